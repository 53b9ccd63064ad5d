"""The magic-link method (C13-C17) through both apps over real HTTP, with mail delivered to a
real SMTP server (aiosmtpd) on a loopback port."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, update

from identity import db
from identity.models import AuditEvent, ThrottleCounter, utcnow
from login_methods.magic_link import tokens
from login_methods.magic_link.tokens import MagicLinkToken, digest
from tests.helpers import DEMO_EMAIL
from tests.mail_sink import free_port
from tests.stack import Browser, Page, Stack

pytestmark = pytest.mark.integration

LINK = re.compile(r"^(http://\S+/login/magic_link/confirm\?token=\S+)$", re.MULTILINE)


def ask_for_link(browser: Browser, login: Page, email: str = DEMO_EMAIL) -> Page:
    return browser.submit(login, "/login/magic_link/", **{"magic_link-email": email})


def start(stack: Stack, browser: Browser | None = None, email: str = DEMO_EMAIL):
    """Authorize, open the login page, ask for a link; returns (browser, authorization, sent)."""
    browser = browser or stack.browser()
    authorization = browser.authorize()
    login = browser.page("GET", authorization.login_url)
    asked = ask_for_link(browser, login, email)
    assert asked.status == 303, asked.text()
    return browser, authorization, browser.follow(asked)


def newest_link(stack: Stack, to: str = DEMO_EMAIL, count: int = 1) -> str:
    messages = stack.mail.wait_for(to, count=count)
    text = messages[-1].get_body(preferencelist=("plain",)).get_content()
    return LINK.search(text).group(1)


def links_sent(stack: Stack, to: str) -> int:
    return len([m for m in stack.mail.messages() if m["To"] == to])


def token_row(stack: Stack, link: str) -> MagicLinkToken:
    token = parse_qs(urlsplit(link).query)["token"][0]
    with stack.idp.app.app_context():
        return db.session().scalar(
            select(MagicLinkToken).where(MagicLinkToken.token_hash == digest(token))
        )


def test_magic_link_end_to_end_to_a_verified_access_token(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, authorization, sent = start(stack)
    assert sent.status == 200
    assert "If an account exists for alice@example.com" in sent.text()

    message = stack.mail.wait_for(DEMO_EMAIL, count=before + 1)[-1]
    assert message["Subject"] == "Your sign-in link for Acme Identity"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = LINK.search(text).group(1)
    assert link.startswith(f"{stack.idp.url}/login/magic_link/confirm?token=")  # C17
    assert "10 minutes" in text and "If this wasn't you, ignore this email" in text
    assert "Requested at" in text and "127.0.0.1" in text
    assert link.replace("&", "&amp;") in html or link in html

    confirm = browser.page("GET", link)
    assert confirm.status == 200 and "Continue as alice@example.com ?" in confirm.text()
    handed_off = browser.submit(confirm, "/login/magic_link/confirm")
    assert handed_off.status == 303
    redirect = browser.approve(browser.follow(handed_off))
    token = browser.exchange(redirect["code"][0], authorization.verifier)
    assert token.status_code == 200


def test_c13_token_is_long_random_and_stored_only_as_a_hash(stack):
    before = links_sent(stack, DEMO_EMAIL)
    start(stack)
    link = newest_link(stack, count=before + 1)
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert len(token) >= 43  # 32 random bytes, base64url
    row = token_row(stack, link)
    assert row.token_hash == digest(token) and token not in row.token_hash
    assert row.expires_at - row.created_at <= timedelta(minutes=15)


def test_c14_get_and_head_spend_nothing(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    scanner = requests.Session()  # a mail scanner: no cookies, HEAD then GET
    assert scanner.head(link, timeout=10).status_code == 200
    assert scanner.get(link, timeout=10).status_code == 200
    assert browser.page("HEAD", link).status == 200
    assert browser.page("GET", link).status == 200
    assert token_row(stack, link).used_at is None
    confirm = browser.page("GET", link)
    assert browser.submit(confirm, "/login/magic_link/confirm").status == 303


def test_c14_the_confirm_post_needs_its_csrf_token(stack):
    """The POST that spends the link is a form like any other: without its CSRF token it is
    refused, and the link stays unspent for the real press of "Continue"."""
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    confirm = browser.page("GET", link)
    action, fields = confirm.form("/login/magic_link/confirm")
    del fields["csrf_token"]

    forged = browser.page("POST", action, data=fields)

    assert forged.status == 400
    assert token_row(stack, link).used_at is None
    assert browser.submit(confirm, "/login/magic_link/confirm").status == 303


def test_second_use_is_refused(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    confirm = browser.page("GET", link)
    assert browser.submit(confirm, "/login/magic_link/confirm").status == 303
    assert browser.page("GET", link).status == 410
    fresh_token = browser.page("GET", f"{stack.idp.url}/").form("/logout")[1]["csrf_token"]
    action, fields = confirm.form("/login/magic_link/confirm")
    again = browser.page("POST", action, data={**fields, "csrf_token": fresh_token})
    assert again.status == 410 and "This sign-in link was already used" in again.text()


def test_expired_link_is_refused_with_a_way_forward(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    confirm = browser.page("GET", link)
    with stack.idp.app.app_context():
        db.session().execute(
            update(MagicLinkToken)
            .where(MagicLinkToken.id == token_row(stack, link).id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session().commit()
    expired = browser.page("GET", link)
    assert expired.status == 410 and "This sign-in link has expired" in expired.text()
    assert "ask for a new link" in expired.text()
    assert browser.submit(confirm, "/login/magic_link/confirm").status == 410


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1], lambda t: t[:-2] + "AA", lambda t: "", lambda t: "x" * 500]
)
def test_tampered_link_is_refused(stack, mangle):
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    token = parse_qs(urlsplit(link).query)["token"][0]
    tampered = browser.page(
        "GET", f"{stack.idp.url}/login/magic_link/confirm", params={"token": mangle(token)}
    )
    assert tampered.status == 400 and "This sign-in link is not valid" in tampered.text()
    assert token_row(stack, link).used_at is None


def test_c16_unknown_email_gets_the_same_answer_and_no_mail(stack):
    known_before = links_sent(stack, DEMO_EMAIL)
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    unknown = ask_for_link(browser, login, "nobody-here@example.com")
    unknown_page = browser.follow(unknown).text().replace("nobody-here@example.com", "X")
    known = ask_for_link(browser, login, DEMO_EMAIL)
    known_page = browser.follow(known).text().replace(DEMO_EMAIL, "X")
    assert unknown.status == known.status == 303
    assert unknown.response.headers["Location"] == known.response.headers["Location"]
    stack.mail.wait_for(DEMO_EMAIL, count=known_before + 1)  # mail goes out in the background
    assert unknown_page == known_page
    assert links_sent(stack, "nobody-here@example.com") == 0


def test_c15_other_browser_cannot_sign_in_but_gets_a_code_for_the_first(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, authorization, sent = start(stack)
    link = newest_link(stack, count=before + 1)

    phone = stack.browser()  # another device: no verifier cookie
    opened = phone.page("GET", link)
    assert opened.status == 200 and "opened in another browser" in opened.text()
    assert "Continue as" not in opened.text() and DEMO_EMAIL not in opened.text()
    forced = phone.page(
        "POST",
        f"{stack.idp.url}/login/magic_link/confirm",
        data={
            "token": opened.form("/relay")[1]["token"],
            "csrf_token": opened.form("/relay")[1]["csrf_token"],
        },
    )
    assert forced.status == 403
    assert token_row(stack, link).used_at is None

    shown = phone.submit(opened, "/login/magic_link/relay")
    assert shown.status == 200
    code = shown.soup.select_one("p.code").get_text(strip=True)
    assert re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    assert "You are not signed in on this device" in shown.text()

    wrong = browser.submit(sent, "/login/magic_link/code", **{"code-code": "AAAA-AAAA"})
    assert wrong.status == 422 and "not valid" in wrong.text()
    handed_off = browser.submit(sent, "/login/magic_link/code", **{"code-code": code.lower()})
    assert handed_off.status == 303
    redirect = browser.approve(browser.follow(handed_off))
    assert redirect["state"] == [authorization.client_state]
    assert "signed in as" not in phone.page("GET", f"{stack.idp.url}/").text()


def test_two_concurrent_confirms_sign_in_exactly_once(stack):
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    link = newest_link(stack, count=before + 1)
    action, fields = browser.page("GET", link).form("/login/magic_link/confirm")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def confirm() -> None:
        twin = requests.Session()
        twin.cookies.update(browser.cookies)
        barrier.wait()
        statuses.append(
            twin.post(action, data=fields, allow_redirects=False, timeout=30).status_code
        )

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # One wins; the other is refused (the link is spent, or the winner's sign-in already
    # moved the login request to the new session).
    assert sorted(statuses)[0] == 303 and 400 <= sorted(statuses)[1] < 500, statuses
    login_request_id = token_row(stack, link).login_request_id
    with stack.idp.app.app_context():
        sign_ins = (
            db.session()
            .scalars(
                select(AuditEvent).where(
                    AuditEvent.event == "sign_in.succeeded",
                    AuditEvent.login_request_id == login_request_id,
                )
            )
            .all()
        )
    assert len(sign_ins) == 1


def test_c16_rate_limit_trips_and_recovers(fresh_stack):
    stack = fresh_stack()
    for email in ("limited@example.com", DEMO_EMAIL):  # no account, and an account: the same
        browser = stack.browser()
        login = browser.page("GET", browser.authorize().login_url)
        for _ in range(3):
            assert ask_for_link(browser, login, email).status == 303
        limited = ask_for_link(browser, login, email)
        assert limited.status == 429
        assert int(limited.response.headers["Retry-After"]) >= 59
        assert "Too many sign-in links" in limited.text()
        with stack.idp.app.app_context():  # a minute passes
            db.session().execute(
                update(ThrottleCounter)
                .where(ThrottleCounter.key == f"magic_link.email:{email}")
                .values(blocked_until=utcnow() - timedelta(seconds=1))
            )
            db.session().commit()
        assert ask_for_link(browser, login, email).status == 303


def test_c16_rate_limit_per_client_address(fresh_stack):
    stack = fresh_stack(LOGIN_METHOD_MAGIC_LINK_ADDRESS_LIMIT=2)
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    assert ask_for_link(browser, login, "one@example.com").status == 303
    assert ask_for_link(browser, login, "two@example.com").status == 303
    assert ask_for_link(browser, login, "three@example.com").status == 429


def test_c17_link_ignores_a_spoofed_host_header(stack):
    """An attacker asking for a victim's link with a forged Host header gets no link to it."""
    before = links_sent(stack, DEMO_EMAIL)
    attacker = stack.browser()
    login = attacker.page("GET", attacker.authorize().login_url)
    action, fields = login.form("/login/magic_link/")
    cookies = "; ".join(f"{name}={value}" for name, value in attacker.cookies.items())
    response = requests.post(
        action,
        data={**fields, "magic_link-email": DEMO_EMAIL},
        headers={"Host": "evil.example", "Cookie": cookies},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.text
    assert newest_link(stack, count=before + 1).startswith(stack.idp.url + "/")


def test_verifier_cookie_flags(stack):
    browser = stack.browser()
    login = browser.page("GET", browser.authorize().login_url)
    asked = ask_for_link(browser, login)
    cookie = asked.response.headers["Set-Cookie"]
    assert "idp_magic_link=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/login/magic_link/" in cookie


def test_smtp_down_still_answers_and_the_failure_is_logged_and_audited(fresh_stack, caplog):
    stack = fresh_stack(MAIL_PORT=free_port())  # nothing listens there
    _, _, sent = start(stack)
    assert sent.status == 200 and "Check your email" in sent.text()
    deadline = time.monotonic() + 10
    while True:
        with stack.idp.app.app_context():
            failed = (
                db.session()
                .scalars(select(AuditEvent).where(AuditEvent.event == "mail.send_failed"))
                .all()
            )
        if failed or time.monotonic() > deadline:
            break
        time.sleep(0.02)  # polling the audit table, written by the mail thread
    assert failed and failed[0].detail["purpose"] == "magic_link"
    assert "sending magic_link mail failed" in caplog.text


def test_dev_outbox_lists_received_mail_with_clickable_links(stack):
    before = links_sent(stack, DEMO_EMAIL)
    start(stack)
    link = newest_link(stack, count=before + 1)
    outbox = stack.browser().page("GET", f"{stack.idp.url}/dev/outbox")
    assert outbox.status == 200
    assert link in [a["href"] for a in outbox.soup.select("article.message a")]


def test_dev_outbox_does_not_exist_in_production(tmp_path):
    from app import create_app
    from tests.test_config import PRODUCTION

    app = create_app({**PRODUCTION, "DEV_MAIL_DIR": str(tmp_path)})
    assert app.test_client().get("/dev/outbox").status_code == 404


def test_c13_the_lifetime_is_capped_at_15_minutes_whatever_the_setting(fresh_stack):
    stack = fresh_stack(LOGIN_METHOD_MAGIC_LINK_TTL=3600)
    start(stack)
    row = token_row(stack, newest_link(stack))
    assert row.expires_at - row.created_at <= timedelta(minutes=15)


def test_c13_a_stale_copy_of_a_spent_token_cannot_spend_it_again(stack):
    """Two confirms that both read the unused row (the race on any database): the spend is
    one conditional update, so the second finds nothing."""
    before = links_sent(stack, DEMO_EMAIL)
    browser, _, _ = start(stack)
    row = token_row(stack, newest_link(stack, count=before + 1))
    verifier = browser.cookies.get("idp_magic_link", path="/login/magic_link/")
    with stack.idp.app.app_context():
        first, second = tokens.spend(row, verifier), tokens.spend(row, verifier)
        db.session().rollback()  # leave the link unspent for nobody: this test only races
    assert (first, second) == (True, False)


def _relay_code_for(stack, link: str) -> str:
    phone = stack.browser()
    shown = phone.submit(phone.page("GET", link), "/login/magic_link/relay")
    return shown.soup.select_one("p.code").get_text(strip=True)


def test_c15_the_code_works_only_in_the_browser_that_asked(stack):
    """Someone who learns the code (over a shoulder) and has the forwarded login page open in
    a browser of their own, with a link asked there too, cannot sign in with it."""
    before = links_sent(stack, DEMO_EMAIL)
    browser, authorization, sent = start(stack)
    code = _relay_code_for(stack, newest_link(stack, count=before + 1))

    intruder = stack.browser()
    login = intruder.page("GET", authorization.login_url)
    intruder_sent = intruder.follow(ask_for_link(intruder, login))
    refused = intruder.submit(intruder_sent, "/login/magic_link/code", **{"code-code": code})
    assert refused.status == 422 and "not valid" in refused.text()
    assert "Location" not in refused.response.headers

    handed_off = browser.submit(sent, "/login/magic_link/code", **{"code-code": code})
    assert handed_off.status == 303  # the asking browser still can


def test_c15_wrong_codes_are_throttled_even_before_the_right_one(fresh_stack):
    stack = fresh_stack(LOGIN_METHOD_MAGIC_LINK_LIMIT_DELAY=60)
    browser, _, sent = start(stack)
    code = _relay_code_for(stack, newest_link(stack))
    for _ in range(5):
        wrong = browser.submit(sent, "/login/magic_link/code", **{"code-code": "AAAA-AAAA"})
        assert wrong.status == 422
    blocked = browser.submit(sent, "/login/magic_link/code", **{"code-code": code})
    assert blocked.status == 429 and "Too many wrong codes" in blocked.text()
