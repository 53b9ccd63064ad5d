"""The profile posted to the broker (contract §3) is built from the user record."""

from __future__ import annotations

from identity.models import User
from identity.profile import build_profile


def test_full_profile_carries_standard_claims_and_broker_extensions():
    user = User(
        subject="sub-1",
        email="a@example.com",
        email_verified=True,
        given_name="A",
        family_name="B",
        name="A B",
        preferred_username="ab",
        picture="https://x/p.png",
        locale="en-US",
        phone_number="+14155550100",
        phone_number_verified=False,
        roles=["admin"],
        groups=["eng"],
        organization_external_id="org_1",
        organization_external_name="Org",
        custom_attributes={"plan": "pro"},
    )
    assert build_profile(user) == {
        "sub": "sub-1",
        "email": "a@example.com",
        "email_verified": True,
        "given_name": "A",
        "family_name": "B",
        "name": "A B",
        "preferred_username": "ab",
        "picture": "https://x/p.png",
        "locale": "en-US",
        "phone_number": "+14155550100",
        "phone_number_verified": False,
        "roles": ["admin"],
        "groups": ["eng"],
        "organization_external_id": "org_1",
        "organization_external_name": "Org",
        "custom_attributes": {"plan": "pro"},
    }


def test_minimal_profile_leaves_empty_values_out():
    user = User(
        subject="sub-2",
        email="b@example.com",
        email_verified=False,
        name="",
        roles=[],
        groups=[],
        custom_attributes={},
        phone_number_verified=True,
    )
    assert build_profile(user) == {
        "sub": "sub-2",
        "email": "b@example.com",
        "email_verified": False,
    }
