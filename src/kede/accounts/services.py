"""Every write about people and roles."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kede.accounts import selectors
from kede.accounts.models import Membership, MembershipStatus, ReaderCategory, Role, User
from kede.consortium.models import Institution


def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    full_name: str = "",
    preferred_language: str = "zh-hans",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """A person's one account. Roles come separately (`role_grant`, `reader_register`)."""
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(_("This user name is taken."))
    return User.objects.create_user(
        username=username,
        password=password,
        email=email,
        full_name=full_name,
        preferred_language=preferred_language,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )


@transaction.atomic
def reader_register(
    *,
    username: str,
    password: str,
    email: str,
    full_name: str,
    institution: Institution,
    reader_category: str,
    department: str = "",
    preferred_language: str = "zh-hans",
) -> Membership:
    """Self-registration: the account exists at once, the reader role waits for the library."""
    if reader_category not in ReaderCategory.values:
        raise ValidationError(_("Choose a reader category."))
    user = user_create(
        username=username,
        password=password,
        email=email,
        full_name=full_name,
        preferred_language=preferred_language,
    )
    return Membership.objects.create(
        user=user,
        institution=institution,
        role=Role.READER,
        status=MembershipStatus.PENDING,
        reader_category=reader_category,
        department=department,
    )


def user_set_language(*, user: User, language: str) -> bool:
    """Remember the person's interface language (their mail follows it). False if unknown."""
    if language not in dict(settings.LANGUAGES):
        return False
    User.objects.filter(pk=user.pk).update(preferred_language=language)
    return True


def _decide_registration(
    *, actor: User, membership: Membership, to: MembershipStatus, note: str
) -> Membership:
    if membership.role != Role.READER:
        raise ValidationError(_("Only reader registrations are approved here."))
    if not selectors.permitted(actor, "reader.approve", membership.institution):
        raise PermissionDenied(_("You may not decide registrations for this library."))
    with transaction.atomic():
        updated = Membership.objects.filter(
            id=membership.id, status=MembershipStatus.PENDING
        ).update(status=to, decided_by=actor, decided_at=timezone.now(), decision_note=note)
        if not updated:
            raise ValidationError(_("This registration has already been decided."))
    membership.refresh_from_db()
    selectors.forget_memberships(membership.user)
    return membership


def reader_approve(*, actor: User, membership: Membership, note: str = "") -> Membership:
    return _decide_registration(
        actor=actor, membership=membership, to=MembershipStatus.ACTIVE, note=note
    )


def reader_reject(*, actor: User, membership: Membership, note: str = "") -> Membership:
    return _decide_registration(
        actor=actor, membership=membership, to=MembershipStatus.REJECTED, note=note
    )


@transaction.atomic
def role_grant(
    *,
    user: User,
    institution: Institution,
    role: Role,
    actor: User | None = None,
    reader_category: str = "",
    department: str = "",
) -> Membership:
    """Give someone a role. With an actor, the actor must be allowed to grant it.

    Without an actor the call comes from a trusted script (setup, demo data, the centre's
    command line), never from a page.
    """
    if actor is not None:
        grantable = role in (Role.READER, Role.ILL_STAFF) or selectors.has_any_role(
            actor, Role.CENTRE_ADMIN
        )
        if not grantable or not selectors.permitted(actor, "staff.grant", institution):
            raise PermissionDenied(_("You may not grant this role here."))
    if role == Role.READER and reader_category not in ReaderCategory.values:
        raise ValidationError(_("Choose a reader category."))
    try:
        with transaction.atomic():
            membership, _created = Membership.objects.update_or_create(
                user=user,
                institution=institution,
                role=role,
                defaults={
                    "status": MembershipStatus.ACTIVE,
                    "reader_category": reader_category,
                    "department": department,
                    "decided_by": actor,
                    "decided_at": timezone.now(),
                },
            )
    except IntegrityError as exc:  # a concurrent grant of the same role
        raise ValidationError(_("This role was granted at the same moment; reload.")) from exc
    selectors.forget_memberships(user)
    return membership
