"""Outbound email over SMTP, sent off the request path.

A login page must answer as fast whether or not the address has an account, and whether or
not the mail server is slow or down (C16), so messages are handed to a small per-process
thread pool and the request returns at once. A failed send is logged and audited; the user can
simply ask again. (A crash between the hand-off and the send loses that one message, which is
the same outcome for the user as a lost email.) Message bodies are never stored: they carry
live sign-in links.

Settings: MAIL_SERVER, MAIL_PORT, MAIL_SECURITY (`none`, `starttls` or `ssl`), MAIL_USERNAME,
MAIL_PASSWORD, MAIL_FROM, MAIL_TIMEOUT, MAIL_CA_FILE (a CA bundle to trust, e.g. a company CA).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import Flask, current_app

from identity import audit, db

log = logging.getLogger(__name__)

#: Unicode categories never copied from a request into an email: controls (a NUL, terminal
#: escapes, C1 controls), format characters (bidirectional overrides, zero-width characters),
#: lone surrogates, and line and paragraph separators.
_UNQUOTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

MAIL_SEND_FAILED = "mail.send_failed"
MAIL_SENT = "mail.sent"
_EXECUTOR = "identity.mail_executor"


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    html: str
    #: Why it was sent (for the audit trail), e.g. "magic_link".
    purpose: str


def quoted(text: str, limit: int = 120) -> str:
    """`text` sent by a client (a `User-Agent`, say), fit to quote in an email: without the
    characters that break or disguise a line, at most `limit` characters.

    A NUL or an escape sequence in a header was copied into the mail verbatim (E2): mail
    software may cut the message at it, and a reader cannot see what it hides.
    """
    return "".join(c for c in text if unicodedata.category(c) not in _UNQUOTABLE)[:limit]


def init_app(app: Flask) -> None:
    app.extensions[_EXECUTOR] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")


def shutdown(app: Flask) -> None:
    """Wait for queued messages and stop the mail threads (tests, orderly shutdown)."""
    app.extensions[_EXECUTOR].shutdown(wait=True)


def send_later(message: Message) -> Future:
    """Queue `message`; the caller's request does not wait for SMTP."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions[_EXECUTOR].submit(_deliver, app, message)


def _deliver(app: Flask, message: Message) -> None:
    with app.app_context():
        try:
            send_now(message)
        except (OSError, smtplib.SMTPException) as error:
            # OSError covers refused connections and timeouts. The address is recorded as
            # the audit's user context elsewhere; the error is the type and SMTP code only.
            reason = f"{type(error).__name__}: {getattr(error, 'smtp_code', '')}".strip(": ")
            log.warning("sending %s mail failed: %s", message.purpose, reason)
            audit.record(MAIL_SEND_FAILED, purpose=message.purpose, reason=reason)
        else:
            audit.record(MAIL_SENT, purpose=message.purpose)
        db.session().commit()


def send_now(message: Message) -> None:
    """Deliver over SMTP with the configured transport security; raises on failure."""
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].rpartition("@")[2] or None)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")

    security = config["MAIL_SECURITY"]
    context = ssl.create_default_context(cafile=config.get("MAIL_CA_FILE") or None)
    host, port, timeout = config["MAIL_SERVER"], int(config["MAIL_PORT"]), config["MAIL_TIMEOUT"]
    if security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if security == "starttls":
            client.starttls(context=context)
        if config.get("MAIL_USERNAME"):
            client.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        client.send_message(email)
