"""Outbound mail over real SMTP servers (aiosmtpd): STARTTLS, implicit TLS, authentication,
and refusals (an untrusted certificate, a wrong password). TLS uses a throwaway CA (trustme)
handed to the mailer through MAIL_CA_FILE; verification is never switched off."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from app import create_app
from identity import mail
from tests.helpers import customer_test_config
from tests.mail_sink import free_port
from tests.servers import SilentServer

MESSAGE = mail.Message(
    to="bob@example.com",
    subject="Hello",
    text="plain body",
    html="<p>html body</p>",
    purpose="test",
)


class Recorder:
    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope, session.authenticated))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"smtp-password"
    return AuthResult(success=ok, handled=False)  # False: let aiosmtpd answer 535


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def send(tmp_path, port: int, **settings) -> None:
    app = create_app(
        customer_test_config(tmp_path, "http://127.0.0.1:9", MAIL_PORT=port, **settings)
    )
    with app.app_context():
        mail.send_now(MESSAGE)


@contextmanager
def smtp_server(**options) -> Iterator[tuple[Recorder, int]]:
    """An aiosmtpd server on a free loopback port with `options`; (its recorder, its port)."""
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def starttls_with_auth(ca: trustme.CA) -> dict:
    """STARTTLS required, then AUTH (only over TLS) with the test credentials."""
    return {
        "tls_context": server_context(ca),
        "require_starttls": True,
        "authenticator": authenticator,
        "auth_require_tls": True,
    }


def test_starttls_with_authentication(tmp_path, ca, ca_file):
    with smtp_server(**starttls_with_auth(ca)) as (recorder, port):
        send(
            tmp_path,
            port,
            MAIL_SECURITY="starttls",
            MAIL_CA_FILE=str(ca_file),
            MAIL_USERNAME="mailer",
            MAIL_PASSWORD="smtp-password",
        )
    ((envelope, authenticated),) = recorder.envelopes
    assert authenticated
    assert envelope.rcpt_tos == ["bob@example.com"]
    content = envelope.content.decode()
    assert "Subject: Hello" in content and "plain body" in content and "html body" in content
    assert "Auto-Submitted: auto-generated" in content


def test_implicit_tls(tmp_path, ca, ca_file):
    with smtp_server(ssl_context=server_context(ca)) as (recorder, port):
        send(tmp_path, port, MAIL_SECURITY="ssl", MAIL_CA_FILE=str(ca_file))
    assert len(recorder.envelopes) == 1


def test_untrusted_certificate_is_refused(tmp_path, ca):
    options = {"tls_context": server_context(ca), "require_starttls": True}
    refused = pytest.raises(ssl.SSLCertVerificationError)
    with smtp_server(**options) as (recorder, port), refused:
        send(tmp_path, port, MAIL_SECURITY="starttls")  # the system CAs do not know it
    assert recorder.envelopes == []


def test_wrong_smtp_password_is_refused(tmp_path, ca, ca_file):
    import smtplib

    refused = pytest.raises(smtplib.SMTPAuthenticationError)
    with smtp_server(**starttls_with_auth(ca)) as (recorder, port), refused:
        send(
            tmp_path,
            port,
            MAIL_SECURITY="starttls",
            MAIL_CA_FILE=str(ca_file),
            MAIL_USERNAME="mailer",
            MAIL_PASSWORD="wrong",
        )
    assert recorder.envelopes == []


def test_plain_smtp_to_a_remote_server_refuses_to_start_in_production():
    from identity.config import ConfigError
    from tests.test_config import PRODUCTION

    with pytest.raises(ConfigError, match="MAIL_SECURITY=none"):
        create_app({**PRODUCTION, "MAIL_SECURITY": "none", "MAIL_SERVER": "smtp.example.com"})


def test_c21_the_smtp_timeout_reaches_the_connection(tmp_path):
    """An SMTP server that accepts and never greets: the send fails on the client's own timeout
    (the client hangs up first), rather than waiting for the server."""
    with SilentServer() as silent, pytest.raises(OSError):
        send(tmp_path, silent.port, MAIL_TIMEOUT=0.2, MAIL_SECURITY="none")
    assert silent.outcomes == ["client gave up"]
