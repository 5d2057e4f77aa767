"""Every write to the consortium model goes through these functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kede.consortium.models import (
    AgencyId,
    Consortium,
    Institution,
    InstitutionRole,
    InstitutionType,
    NetworkRole,
    Region,
    RegionGroup,
    ServiceProfile,
)

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_AGENCY_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Agency:
    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


def parse_agency(text: str) -> Agency:
    """Read an agency id written as TYPE:VALUE (e.g. ISIL:CN-100871-L)."""
    type_, sep, value = text.strip().partition(":")
    if not sep or not type_ or not value.strip():
        raise ValidationError(
            _("Agency id “%(text)s” must be written TYPE:VALUE, e.g. ISIL:CN-100871-L."),
            params={"text": text},
        )
    if not _AGENCY_TYPE.match(type_):
        raise ValidationError(
            _("Agency id type “%(type)s” must be letters, digits, '-' or '_'."),
            params={"type": type_},
        )
    value = value.strip()
    if len(value) > 64 or any(ch.isspace() for ch in value):
        raise ValidationError(
            _("Agency id value “%(value)s” must be at most 64 characters with no spaces."),
            params={"value": value},
        )
    return Agency(type=type_.upper(), value=value)


def consortium_ensure(*, code: str, name: str, name_en: str = "") -> Consortium:
    consortium, _created = Consortium.objects.get_or_create(
        code=code, defaults={"name": name, "name_en": name_en}
    )
    return consortium


@transaction.atomic
def region_add(
    *, consortium: Consortium, code: str, name: str, group: str, name_en: str = ""
) -> Region:
    if group not in RegionGroup.values:
        raise ValidationError(
            _("Unknown region group “%(group)s”; choose one of: %(choices)s."),
            params={"group": group, "choices": ", ".join(RegionGroup.values)},
        )
    region, _created = Region.objects.update_or_create(
        code=code,
        defaults={"consortium": consortium, "name": name, "name_en": name_en, "group": group},
    )
    return region


@transaction.atomic
def institution_add(
    *,
    code: str,
    name: str,
    region_code: str,
    type: str = InstitutionType.UNDERGRADUATE_COLLEGE,
    name_en: str = "",
    roles: list[str] | None = None,
    agencies: list[Agency] | None = None,
    supplies_copies: bool = True,
    lends_books: bool = True,
    proxy_search: bool = False,
) -> Institution:
    """Onboard a member (or update one already there) with its directory profile."""
    code = code.strip().upper()
    if not _CODE.match(code):
        raise ValidationError(
            _(
                "Institution code “%(code)s” must be 2–32 capital letters, digits, '-' or '_', "
                "starting with a letter or digit."
            ),
            params={"code": code},
        )
    if not name.strip():
        raise ValidationError(_("An institution needs a name."))
    if type not in InstitutionType.values:
        raise ValidationError(
            _("Unknown institution type “%(type)s”; choose one of: %(choices)s."),
            params={"type": type, "choices": ", ".join(InstitutionType.values)},
        )
    roles = roles or [NetworkRole.MEMBER]
    unknown = [r for r in roles if r not in NetworkRole.values]
    if unknown:
        raise ValidationError(
            _("Unknown network role “%(role)s”; choose one of: %(choices)s."),
            params={"role": unknown[0], "choices": ", ".join(NetworkRole.values)},
        )
    try:
        region = Region.objects.get(code=region_code)
    except Region.DoesNotExist:
        known = ", ".join(Region.objects.values_list("code", flat=True)) or "-"
        raise ValidationError(
            _("No region “%(region)s”; known regions: %(known)s."),
            params={"region": region_code, "known": known},
        ) from None
    for agency in agencies or []:
        taken = (
            AgencyId.objects.filter(type=agency.type, value=agency.value)
            .exclude(institution__code=code)
            .select_related("institution")
            .first()
        )
        if taken:
            raise ValidationError(
                _("Agency id %(agency)s already belongs to %(other)s."),
                params={"agency": str(agency), "other": taken.institution.code},
            )

    institution, _created = Institution.objects.update_or_create(
        code=code,
        defaults={"name": name.strip(), "name_en": name_en, "region": region, "type": type},
    )
    for role in roles:
        InstitutionRole.objects.get_or_create(institution=institution, role=role)
    for agency in agencies or []:
        AgencyId.objects.get_or_create(
            institution=institution, type=agency.type, value=agency.value
        )
    ServiceProfile.objects.update_or_create(
        institution=institution,
        defaults={
            "supplies_copies": supplies_copies,
            "lends_books": lends_books,
            "proxy_search": proxy_search,
        },
    )
    return institution
