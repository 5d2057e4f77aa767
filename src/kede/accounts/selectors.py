"""Reads about people, always scoped to what the caller may see. Tenancy lives here."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from kede.accounts.models import Membership, MembershipStatus, Role, User
from kede.accounts.permissions import roles_for
from kede.consortium.models import Institution

AnyUser = User | AnonymousUser

_CACHE_ATTR = "_kede_active_memberships"


def active_memberships(user: AnyUser) -> list[Membership]:
    """The roles a person holds now; cached on the user object for the length of a request."""
    if not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = list(
            Membership.objects.filter(
                user=user, status=MembershipStatus.ACTIVE, institution__is_active=True
            ).select_related("institution", "institution__region")
        )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget_memberships(user: AnyUser) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def _reach(memberships: list[Membership]) -> Q | None:
    """A filter on Institution for everything these memberships reach; None if nothing."""
    if any(m.role == Role.CENTRE_ADMIN for m in memberships):
        return Q()
    ids = {m.institution_id for m in memberships if m.role != Role.REGION_ADMIN}
    regions = {m.institution.region_id for m in memberships if m.role == Role.REGION_ADMIN}
    if not ids and not regions:
        return None
    return Q(id__in=ids) | Q(region_id__in=regions)


def institutions_for(user: AnyUser, action: str) -> QuerySet[Institution]:
    """Institutions at which `user` may perform `action`."""
    allowed = roles_for(action)
    memberships = [m for m in active_memberships(user) if m.role in allowed]
    reach = _reach(memberships)
    if reach is None:
        return Institution.objects.none()
    return Institution.objects.filter(reach, is_active=True)


def permitted(
    user: AnyUser, action: str, institution: Institution, *, as_staff: bool = False
) -> bool:
    """Whether `user` may perform `action` at `institution`; `as_staff` ignores the reader role."""
    allowed = roles_for(action) - ({Role.READER} if as_staff else set())
    for m in active_memberships(user):
        if m.role not in allowed:
            continue
        if m.role == Role.CENTRE_ADMIN or m.institution_id == institution.id:
            return True
        if m.role == Role.REGION_ADMIN and m.institution.region_id == institution.region_id:
            return True
    return False


def has_any_role(user: AnyUser, *roles: Role) -> bool:
    return any(m.role in roles for m in active_memberships(user))


def reader_membership(user: AnyUser) -> Membership | None:
    """The person's active reader role (their home library), if any."""
    for m in active_memberships(user):
        if m.role == Role.READER:
            return m
    return None


def pending_reader_membership(user: AnyUser) -> Membership | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, role=Role.READER, status=MembershipStatus.PENDING)
        .select_related("institution")
        .first()
    )


def readers_visible_to(user: AnyUser) -> QuerySet[Membership]:
    """Reader registrations the caller may see: never another library's readers."""
    institutions = institutions_for(user, "reader.view")
    return (
        Membership.objects.filter(role=Role.READER, institution__in=institutions)
        .select_related("user", "institution")
        .order_by("-created_at")
    )


def reader_registrations_to_approve(user: AnyUser) -> QuerySet[Membership]:
    institutions = institutions_for(user, "reader.approve")
    return readers_visible_to(user).filter(
        status=MembershipStatus.PENDING, institution__in=institutions
    )


def access_reader_membership(user: AnyUser, membership_id: int) -> Membership:
    """One reader registration the caller may see; 'missing' and 'not yours' look the same."""
    return readers_visible_to(user).get(id=membership_id)
