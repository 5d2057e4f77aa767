"""Registration, approval, and who sees which readers."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from kede.accounts import selectors, services
from kede.accounts.models import MembershipStatus, Role
from kede.accounts.permissions import PERMISSIONS, roles_for

pytestmark = pytest.mark.django_db


def register(network, username="newbie", code="USST"):
    return services.reader_register(
        username=username,
        password="a-long-pass-42",
        email=f"{username}@example.org",
        full_name="New Reader",
        institution=network[code],
        reader_category="masters",
        department="Law",
    )


def test_a_registered_reader_waits_for_their_library(network):
    membership = register(network)
    assert membership.status == MembershipStatus.PENDING
    assert selectors.reader_membership(membership.user) is None
    assert not selectors.permitted(membership.user, "request.create", network["USST"])


def test_the_home_library_approves_and_the_reader_can_then_ask(network):
    membership = register(network)
    services.reader_approve(actor=network.staff["USST"], membership=membership)
    user = membership.user
    selectors.forget_memberships(user)
    assert selectors.permitted(user, "request.create", network["USST"])


def test_another_library_cannot_approve_or_even_see_the_registration(network):
    membership = register(network)
    with pytest.raises(PermissionDenied):
        services.reader_approve(actor=network.staff["FDU"], membership=membership)
    assert not selectors.readers_visible_to(network.staff["FDU"]).filter(id=membership.id).exists()


def test_a_decided_registration_cannot_be_decided_again(network):
    membership = register(network)
    services.reader_reject(actor=network.staff["USST"], membership=membership, note="not ours")
    with pytest.raises(ValidationError):
        services.reader_approve(actor=network.staff["USST"], membership=membership)


def test_a_taken_user_name_is_refused(network):
    register(network, username="Taken")
    with pytest.raises(ValidationError):
        register(network, username="taken")


def test_staff_see_only_their_own_librarys_readers(network):
    seen = set(
        selectors.readers_visible_to(network.staff["FDU"]).values_list("user__username", flat=True)
    )
    assert seen == {"reader_fdu"}


def test_a_regional_centre_sees_its_regions_readers_and_the_centre_sees_all(network):
    region = set(
        selectors.readers_visible_to(network.region_admin).values_list(
            "institution__code", flat=True
        )
    )
    assert region == {"SCU", "SASS"}
    everyone = selectors.readers_visible_to(network.centre_admin).count()
    assert everyone == len(network.institutions)


def test_a_region_admin_can_approve_for_a_small_member_of_its_region(network):
    membership = register(network, code="SASS")
    services.reader_approve(actor=network.region_admin, membership=membership)
    other = register(network, username="east", code="USST")
    with pytest.raises(PermissionDenied):
        services.reader_approve(actor=network.region_admin, membership=other)


def test_actions_not_in_the_table_are_denied_to_everyone(network):
    assert roles_for("request.delete_everything") == frozenset()
    assert not selectors.permitted(network.centre_admin, "no.such.action", network["PKU"])


def test_every_permission_names_known_roles():
    for action, roles in PERMISSIONS.items():
        assert roles <= set(Role), action


def test_staff_may_only_grant_reader_or_staff_roles_at_their_own_library(network):
    from kede.conftest import make_user

    admin = make_user("usst_admin")
    services.role_grant(user=admin, institution=network["USST"], role=Role.INSTITUTION_ADMIN)
    newcomer = make_user("newcomer")
    services.role_grant(
        actor=admin, user=newcomer, institution=network["USST"], role=Role.ILL_STAFF
    )
    with pytest.raises(PermissionDenied):
        services.role_grant(
            actor=admin, user=newcomer, institution=network["FDU"], role=Role.ILL_STAFF
        )
    with pytest.raises(PermissionDenied):
        services.role_grant(
            actor=admin, user=newcomer, institution=network["USST"], role=Role.CENTRE_ADMIN
        )
    with pytest.raises(PermissionDenied):
        services.role_grant(
            actor=network.staff["USST"], user=newcomer, institution=network["USST"],
            role=Role.ILL_STAFF,
        )  # fmt: skip
