"""The operator's `flask` commands: users, passwords, disabling."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from identity import db
from identity.models import User


def _user(app, email):
    with app.app_context():
        return db.session().scalar(select(User).where(User.email == email))


def test_create_user_with_profile_attributes(app, runner):
    result = runner.invoke(
        args=[
            "create-user",
            "Bob@Example.com",
            "--name",
            "Bob B",
            "--verified",
            "--role",
            "admin",
            "--group",
            "eng",
            "--org-id",
            "org_1",
            "--org-name",
            "Org One",
            "--attributes",
            '{"plan": "pro"}',
            "--password",
            "bobs long passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    user = _user(app, "bob@example.com")
    assert user.email_verified and user.roles == ["admin"] and user.groups == ["eng"]
    assert user.custom_attributes == {"plan": "pro"}
    assert user.password_hash.startswith("$argon2id$")


def test_create_user_refuses_weak_password_and_duplicates(runner):
    weak = runner.invoke(args=["create-user", "c@example.com", "--password", "short"])
    assert weak.exit_code != 0 and "at least 15" in weak.output
    ok = runner.invoke(
        args=["create-user", "c@example.com", "--password", "a fine long passphrase"]
    )
    assert ok.exit_code == 0
    again = runner.invoke(
        args=["create-user", "C@example.com", "--password", "a fine long passphrase"]
    )
    assert again.exit_code != 0 and "already exists" in again.output


def test_create_user_refuses_bad_email_and_bad_attributes(runner):
    bad_email = runner.invoke(
        args=["create-user", "not-an-email", "--password", "a fine long passphrase"]
    )
    assert bad_email.exit_code != 0 and "@-sign" in bad_email.output
    bad = runner.invoke(
        args=[
            "create-user",
            "d@example.com",
            "--attributes",
            "[1]",
            "--password",
            "a fine long passphrase",
        ]
    )
    assert bad.exit_code != 0 and "JSON object" in bad.output


def test_set_password_rotates_session_epoch_and_disable_enable(app, runner):
    runner.invoke(args=["seed-demo"])
    before = _user(app, "alice@example.com")
    assert (
        runner.invoke(
            args=["set-password", "alice@example.com", "--password", "a brand new passphrase"]
        ).exit_code
        == 0
    )
    after = _user(app, "alice@example.com")
    assert after.session_epoch != before.session_epoch
    assert after.password_hash != before.password_hash
    assert runner.invoke(args=["disable-user", "alice@example.com"]).exit_code == 0
    assert not _user(app, "alice@example.com").is_active
    assert runner.invoke(args=["enable-user", "alice@example.com"]).exit_code == 0
    assert _user(app, "alice@example.com").is_active
    missing = runner.invoke(args=["disable-user", "nobody@example.com"])
    assert missing.exit_code != 0 and "No user" in missing.output


def test_c12_passwords_built_from_the_email_or_the_service_name_are_refused(runner):
    """create-user and set-password alike: the account's email does not count towards the
    length (NIST SP 800-63B context-specific words)."""
    weak = runner.invoke(
        args=["create-user", "carol@example.com", "--password", "carol@example.com!"]
    )
    assert weak.exit_code != 0 and "Without your email address" in weak.output
    ok = runner.invoke(
        args=["create-user", "carol@example.com", "--password", "a long and private phrase"]
    )
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(
        args=["set-password", "carol@example.com", "--password", "AcmeIdentityCarol!"]
    )
    assert again.exit_code != 0 and "the service's name" in again.output


PASSWORD = ["--password", "a fine long passphrase"]


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--org-name", "O" * 201, "organization_external_name must be 1 to 200 characters"),
        ("--name", "N" * 256, "name must be 1 to 255 characters"),
        ("--given-name", "Eve\u202egnirts", "control or invisible characters"),
        ("--group", "x" * 256, "each item of groups must be 1 to 255 characters"),
        ("--attributes", '{"k": "' + "v" * 4100 + '"}', "at most 4096 bytes"),
    ],
)
def test_create_user_checks_every_profile_field_and_creates_nothing(
    app, runner, option, value, says
):
    """Bad input is a clear message, never a database error, and loses nothing (E2)."""
    result = runner.invoke(args=["create-user", "e@example.com", option, value, *PASSWORD])
    assert result.exit_code == 1 and says in result.output, result.output
    assert "Traceback" not in result.output and _user(app, "e@example.com") is None


def test_edit_user_changes_only_the_named_fields(app, runner):
    runner.invoke(
        args=["create-user", "f@example.com", "--role", "viewer", "--name", "F", *PASSWORD]
    )
    result = runner.invoke(
        args=[
            "edit-user",
            "f@example.com",
            "--role",
            "admin",
            "--role",
            "billing",
            "--group",
            "eng",
            "--org-id",
            "org_9",
            "--org-name",
            "Nine Inc",
            "--attributes",
            '{"plan": "team"}',
            "--preferred-username",
            "fee",
            "--picture",
            "https://cdn.example.com/f.png",
            "--locale",
            "fr-CA",
            "--phone",
            "+14155550123",
            "--phone-verified",
        ]
    )
    assert result.exit_code == 0, result.output
    user = _user(app, "f@example.com")
    assert (user.roles, user.groups, user.preferred_username) == (
        ["admin", "billing"],
        ["eng"],
        "fee",
    )
    assert (user.organization_external_id, user.organization_external_name) == ("org_9", "Nine Inc")
    assert user.custom_attributes == {"plan": "team"} and user.locale == "fr-CA"
    assert (user.phone_number, user.phone_number_verified) == ("+14155550123", True)
    assert user.name == "F" and user.picture == "https://cdn.example.com/f.png"

    cleared = runner.invoke(
        args=["edit-user", "f@example.com", "--clear", "roles", "--clear", "phone"]
    )
    assert cleared.exit_code == 0, cleared.output
    user = _user(app, "f@example.com")
    assert user.roles == [] and user.phone_number is None and user.phone_number_verified is None
    assert user.groups == ["eng"]  # not named, not changed


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--picture", "javascript:alert(1)"], "absolute http(s) URL"),
        (["--locale", "en_US; DROP"], "a language tag like en-US"),
        (["--phone", "555-0123"], "E.164"),
        (["--org-name", "O" * 201], "1 to 200 characters"),
        (["--role", "admin", "--clear", "roles"], "Both set and cleared: roles"),
    ],
)
def test_edit_user_refuses_bad_values_and_changes_nothing(app, runner, arguments, says):
    runner.invoke(args=["create-user", "g@example.com", "--role", "viewer", *PASSWORD])
    result = runner.invoke(args=["edit-user", "g@example.com", "--name", "Gee", *arguments])
    assert result.exit_code == 1 and says in result.output, result.output
    user = _user(app, "g@example.com")
    assert user.roles == ["viewer"] and user.name is None  # all or nothing
    empty = runner.invoke(args=["edit-user", "g@example.com"])
    assert empty.exit_code == 1 and "Nothing to change" in empty.output
    unknown = runner.invoke(args=["edit-user", "nobody@example.com", "--name", "N"])
    assert unknown.exit_code == 1 and "No user with email" in unknown.output
