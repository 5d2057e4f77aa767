"""The consortium: its centre, regions, member institutions and the supplier directory."""

from __future__ import annotations

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Named(models.Model):
    """A name in Chinese with an optional English one, shown by the active language."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)

    class Meta:
        abstract = True

    @property
    def local_name(self) -> str:
        language = get_language() or ""
        return self.name_en if language.startswith("en") and self.name_en else self.name


class RegionGroup(models.TextChoices):
    EAST = "east", _("East")
    CENTRAL = "central", _("Central")
    WEST = "west", _("West")


class InstitutionType(models.TextChoices):
    RESEARCH_UNIVERSITY = "research_university", _("Research university")
    UNDERGRADUATE_COLLEGE = "undergraduate_college", _("Undergraduate college")
    VOCATIONAL_COLLEGE = "vocational_college", _("Vocational college")
    PRIVATE_COLLEGE = "private_college", _("Private college")
    NON_UNIVERSITY = "non_university", _("Non-university institution")
    PUBLIC_LIBRARY = "public_library", _("Public library")
    NATIONAL_PARTNER = "national_partner", _("National partner")
    COMMERCIAL_VENDOR = "commercial_vendor", _("Commercial vendor")


class NetworkRole(models.TextChoices):
    CENTRE_LIBRARY = "centre_library", _("Centre library")
    SERVICE_LIBRARY = "service_library", _("Service library")
    MEMBER = "member", _("Member")
    REGIONAL_CENTRE = "regional_centre", _("Regional centre")
    EXTERNAL_SUPPLIER = "external_supplier", _("External supplier")


class Consortium(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("consortium")
        verbose_name_plural = _("consortia")

    def __str__(self) -> str:
        return self.name


class Region(Named):
    consortium = models.ForeignKey(Consortium, on_delete=models.PROTECT, related_name="regions")
    code = models.SlugField(_("code"), max_length=32, unique=True)
    group = models.CharField(_("region group"), max_length=16, choices=RegionGroup.choices)

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Institution(Named):
    code = models.CharField(_("code"), max_length=32, unique=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="institutions")
    type = models.CharField(
        _("type"),
        max_length=32,
        choices=InstitutionType.choices,
        default=InstitutionType.UNDERGRADUATE_COLLEGE,
    )
    is_active = models.BooleanField(_("active"), default=True)
    joined_on = models.DateField(_("joined on"), null=True, blank=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class InstitutionRole(models.Model):
    """One network role an institution plays; an institution may play several."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(_("network role"), max_length=32, choices=NetworkRole.choices)

    class Meta:
        verbose_name = _("network role")
        verbose_name_plural = _("network roles")
        constraints = [
            models.UniqueConstraint(fields=["institution", "role"], name="uniq_institution_role")
        ]

    def __str__(self) -> str:
        return f"{self.institution.code}: {self.get_role_display()}"


class AgencyId(models.Model):
    """How other interlibrary-loan systems address an institution (ISO 18626 agency id)."""

    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="agency_ids"
    )
    type = models.CharField(_("agency id type"), max_length=32)
    value = models.CharField(_("agency id value"), max_length=64)

    class Meta:
        verbose_name = _("agency id")
        verbose_name_plural = _("agency ids")
        constraints = [
            models.UniqueConstraint(fields=["type", "value"], name="uniq_agency_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class ServiceProfile(models.Model):
    """An institution's entry in the supplier directory: what it offers and when."""

    institution = models.OneToOneField(
        Institution, on_delete=models.CASCADE, related_name="service_profile"
    )
    supplies_copies = models.BooleanField(_("supplies copies"), default=True)
    lends_books = models.BooleanField(_("lends books"), default=True)
    proxy_search = models.BooleanField(_("proxy search"), default=False)
    response_days = models.PositiveSmallIntegerField(_("answers within (business days)"), default=2)
    # Weekday (0 = Monday) -> list of "HH:MM-HH:MM" spans; a weekday missing is closed.
    opening_hours = models.JSONField(_("service hours"), default=dict, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("service profile")
        verbose_name_plural = _("service profiles")

    def __str__(self) -> str:
        return str(self.institution)


class ClosedDay(models.Model):
    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="closed_days"
    )
    date = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("closed day")
        verbose_name_plural = _("closed days")
        constraints = [
            models.UniqueConstraint(fields=["institution", "date"], name="uniq_closed_day")
        ]
        ordering = ["date"]


class Contact(models.Model):
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self) -> str:
        return self.name
