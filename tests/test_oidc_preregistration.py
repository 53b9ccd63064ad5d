"""C22: pre-registering someone's address through an upstream provider, attacked end to end.

The attack: with just-in-time sign-up on and a provider not trusted for email, the attacker's
upstream account asserts `victim@…` (verified or not: the provider's word does not count).
That creates the local account, linked to the attacker's (iss, sub), and signs the attacker
in. Later the real owner proves the address with a magic link. Before C22 the attacker's link
stayed and the attacker signed straight into the victim's account from then on.

Through both apps, the stand-in provider and a real SMTP server: after the owner's proof the
attacker's identity is detached, the attacker's session is over, the next upstream sign-in
must prove the account first, the owner is told by email, and the detach is audited.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from identity import db
from login_methods.oidc.identities import LinkedIdentity
from tests.stack import Stack
from tests.test_magic_link import newest_link, start
from tests.test_oidc_linking import audit_events, links_of, sign_in_upstream, user_by_email

pytestmark = pytest.mark.integration

VICTIM = "victim@example.com"


def prove_with_magic_link(stack: Stack) -> None:
    browser, _, _ = start(stack, email=VICTIM)
    confirm = browser.page("GET", newest_link(stack, to=VICTIM))
    assert browser.submit(confirm, "/login/magic_link/confirm").status == 303


@pytest.mark.parametrize("asserted_verified", ["true", False])
def test_an_identity_that_never_proved_the_address_is_detached_when_the_owner_proves_it(
    standin, asserted_verified
):
    stack = standin(TRUST_EMAIL="false")
    attacker, back, _ = sign_in_upstream(
        stack, username="mallory-up", email=VICTIM, email_verified=asserted_verified
    )
    assert back.status == 303  # the account is created, linked and the attacker signed in
    account = user_by_email(stack, VICTIM)
    assert not account.email_verified
    assert [link.email_unproven for link in links_of(stack, VICTIM)] == [True]
    assert "Continue as" in attacker.page("GET", attacker.authorize().login_url).text()

    prove_with_magic_link(stack)

    assert user_by_email(stack, VICTIM).email_verified
    assert links_of(stack, VICTIM) == []
    detached = audit_events(stack, "oidc.identity_detached")
    assert [(e.user_id, e.detail["provider"], e.detail["how"]) for e in detached] == [
        (account.id, "standin", "magic_link")
    ]
    # The attacker's session, started through that identity, is over.
    assert "Continue as" not in attacker.page("GET", attacker.authorize().login_url).text()
    # And the attacker's next upstream sign-in must prove the account first: nothing opens.
    _, again, _ = sign_in_upstream(
        stack, attacker, username="mallory-up", email=VICTIM, email_verified=asserted_verified
    )
    assert again.status == 200 and "You already have an account here" in again.text()
    assert links_of(stack, VICTIM) == []
    # The owner is told what happened and what to do if it was them.
    notice = next(m for m in stack.mail.wait_for(VICTIM, count=2) if "removed" in m["Subject"])
    assert notice["Subject"] == "A sign-in was removed from your Acme Identity account"
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Stand-in" in text and "signed out" in text


def test_an_identity_whose_address_was_proven_upstream_stays(standin):
    """A trusted provider's verified address is proof: that identity is the owner's."""
    stack = standin()  # TRUST_EMAIL true
    _, back, _ = sign_in_upstream(stack, username="vera-up", email=VICTIM, email_verified="true")
    assert back.status == 303 and user_by_email(stack, VICTIM).email_verified
    prove_with_magic_link(stack)
    assert [link.subject for link in links_of(stack, VICTIM)] == ["vera-up"]
    assert audit_events(stack, "oidc.identity_detached") == []


def test_an_identity_linked_after_the_owner_proved_the_account_stays(standin):
    """The owner connected it by signing in to the account: proving the address again later
    must not undo that."""
    stack = standin(TRUST_EMAIL="false")
    stack.idp.app.test_cli_runner().invoke(
        args=["create-user", VICTIM, "--password", "victims long passphrase"]
    )
    browser, back, authorization = sign_in_upstream(stack, username="victim-up", email=VICTIM)
    assert "You already have an account here" in back.text()
    login = browser.page("GET", authorization.login_url)
    assert (
        browser.sign_in_with_password(
            login, email=VICTIM, password="victims long passphrase"
        ).status
        == 303
    )
    assert [link.email_unproven for link in links_of(stack, VICTIM)] == [False]
    prove_with_magic_link(stack)
    assert [link.subject for link in links_of(stack, VICTIM)] == ["victim-up"]


def test_the_migration_marks_the_links_of_accounts_whose_address_nobody_proved(tmp_path):
    """Links made before C22 did not record how the address was proven: an account whose
    address is still unverified can only have been proven by nobody, so its links become the
    ones a later proof detaches; a verified account's links stay as they were."""
    from app import create_app
    from identity import schema
    from tests import databases
    from tests.helpers import customer_test_config

    app = create_app(customer_test_config(tmp_path, broker_url="http://127.0.0.1:9"))
    try:
        with app.app_context():
            schema.upgrade("oidc0001")
            with db.engine().begin() as connection:
                for id_, email, verified in (
                    (1, "pre@example.com", False),
                    (2, "ok@example.com", True),
                ):
                    connection.execute(
                        text(
                            "INSERT INTO users (id, subject, email, email_verified, roles, groups,"
                            " custom_attributes, session_epoch, created_at) VALUES (:id, :sub,"
                            " :email, :verified, '[]', '[]', '{}', 'e', CURRENT_TIMESTAMP)"
                        ),
                        {"id": id_, "sub": f"sub-{id_}", "email": email, "verified": verified},
                    )
                    connection.execute(
                        text(
                            "INSERT INTO linked_identities (id, user_id, provider, issuer, subject,"
                            " created_at) VALUES (:id, :id, 'standin', 'https://idp', :sub,"
                            " CURRENT_TIMESTAMP)"
                        ),
                        {"id": id_, "sub": f"up-{id_}"},
                    )
            schema.upgrade()
            rows = db.session().execute(
                select(LinkedIdentity.user_id, LinkedIdentity.email_unproven)
            )
            marked = {user_id: unproven for user_id, unproven in rows}
        assert marked == {1: True, 2: False}
    finally:
        databases.dispose(app)
