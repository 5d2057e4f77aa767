"""What the routing centre stores: its policies, the directory facts only routing needs, the
learned supplier statistics, the partners it appends, and each request's rota.

Nothing here decides anything: `kede.routing.policy`, `rota` and `stats` (pure) decide, and
`kede.routing.services` is the only writer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kede.consortium.models import Institution
from kede.ill.models import Request, ServiceType, SupplyRequest


class RoutingPolicy(models.Model):
    """One saved version of the centre's ranking policy for a service type. Saving makes a new
    version and retires the previous one, so the history says who changed what, when."""

    service_type = models.CharField(_("service"), max_length=8, choices=ServiceType.choices)
    version = models.PositiveIntegerField(_("version"))
    # Read through kede.routing.policy.Policy.from_config: nothing malformed is ever stored.
    config = models.JSONField(_("policy"))
    is_active = models.BooleanField(_("in force"), default=True)
    note = models.CharField(_("why it changed"), max_length=500, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("edited by"),
    )
    edited_at = models.DateTimeField(_("edited"), auto_now_add=True)

    class Meta:
        verbose_name = _("routing policy")
        verbose_name_plural = _("routing policies")
        ordering = ["service_type", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_type", "version"], name="uniq_routing_policy_version"
            ),
            models.UniqueConstraint(
                fields=["service_type"],
                condition=models.Q(is_active=True),
                name="uniq_routing_policy_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_type} v{self.version}"


class SupplierProfile(models.Model):
    """The directory facts routing needs beyond the service profile: what the supplier charges,
    how many open requests it can carry, and which formats or requesting-library groups (by
    institution type) it does not serve. A supplier without one: free, capacity not stated,
    excludes nothing."""

    institution = models.OneToOneField(
        Institution, on_delete=models.CASCADE, related_name="routing_profile"
    )
    copy_price = models.DecimalField(
        _("price of a copy"), max_digits=10, decimal_places=2, default=0
    )
    loan_price = models.DecimalField(
        _("price of a loan"), max_digits=10, decimal_places=2, default=0
    )
    capacity = models.PositiveIntegerField(
        _("open requests it can carry"), default=0, help_text=_("0: not stated")
    )
    excluded_formats = models.JSONField(
        _("formats not supplied"), default=list, blank=True, help_text=_('e.g. ["thesis"]')
    )
    excluded_groups = models.JSONField(
        _("library types not served"),
        default=list,
        blank=True,
        help_text=_('Institution types, e.g. ["private_college"]'),
    )

    class Meta:
        verbose_name = _("supplier routing profile")
        verbose_name_plural = _("supplier routing profiles")

    def __str__(self) -> str:
        return str(self.institution)


class LastResort(models.Model):
    """A partner or lender of last resort the centre appends to every rota of a service type
    (after the members that hold the item), in the centre's order."""

    service_type = models.CharField(_("service"), max_length=8, choices=ServiceType.choices)
    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="+", verbose_name=_("supplier")
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("partner of last resort")
        verbose_name_plural = _("partners of last resort")
        ordering = ["service_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["service_type", "institution"], name="uniq_last_resort")
        ]
        indexes = [models.Index(fields=["service_type", "position"])]

    def __str__(self) -> str:
        return f"{self.service_type}: {self.institution_id}"


class SupplierStats(models.Model):
    """What ended attempts taught about one institution for one service type (the counts of
    `kede.routing.stats.SupplierStats`, decayed), and its lend/borrow balance (whole counts
    of fills it supplied and received)."""

    supplier = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="+")
    service_type = models.CharField(_("service"), max_length=8, choices=ServiceType.choices)
    answered = models.FloatField(default=0)
    filled = models.FloatField(default=0)
    checked = models.FloatField(default=0)
    not_held = models.FloatField(default=0)
    timed_out = models.FloatField(default=0)
    supplied = models.FloatField(default=0)
    turnaround_days = models.FloatField(default=0)
    lent = models.PositiveIntegerField(default=0)
    borrowed = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("supplier statistics")
        verbose_name_plural = _("supplier statistics")
        constraints = [
            models.UniqueConstraint(fields=["supplier", "service_type"], name="uniq_supplier_stats")
        ]


class SupplierLoad(models.Model):
    """How many open requests a supplier has (waiting for its answer or being supplied), as
    last counted by the periodic job: what the load criterion reads, by primary key."""

    supplier = models.OneToOneField(
        Institution, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    open_requests = models.PositiveIntegerField(default=0)
    counted_at = models.DateTimeField()


class SupplyOutcome(models.Model):
    """One ended attempt, folded into the statistics exactly once (the row is the receipt)."""

    supply = models.OneToOneField(
        SupplyRequest, on_delete=models.CASCADE, related_name="routing_outcome"
    )
    outcome = models.CharField(max_length=20)  # kede.routing.rota.Outcome
    days = models.FloatField(null=True, blank=True)
    not_held = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)


class StatsCursor(models.Model):
    """How far through the request history the statistics have read (one row)."""

    name = models.CharField(max_length=32, unique=True)
    last_event_id = models.BigIntegerField(default=0)


class RotaPlan(models.Model):
    """A request's rota: the suppliers in the order they will be asked, as ranked by the policy
    and perhaps edited by the borrowing library's staff or overridden by the centre.
    `version` grows with every change; an edit names the version it was made on."""

    request = models.OneToOneField(Request, on_delete=models.CASCADE, related_name="rota_plan")
    suppliers = models.JSONField(_("rota"), default=list)  # Institution ids, in order
    version = models.PositiveIntegerField(default=1)
    policy = models.ForeignKey(
        RoutingPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The ranking as computed (and re-scored on edits): see services.plan_explanations.
    explanations = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now_add=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    overridden = models.BooleanField(_("set by the centre"), default=False)

    class Meta:
        verbose_name = _("rota")
        verbose_name_plural = _("rotas")

    def __str__(self) -> str:
        return f"rota of {self.request_id} v{self.version}"


class RotaEdit(models.Model):
    """Who changed a rota, when, from what to what (the audit trail of edits and overrides)."""

    plan = models.ForeignKey(RotaPlan, on_delete=models.CASCADE, related_name="edits")
    version = models.PositiveIntegerField()
    before = models.JSONField()
    after = models.JSONField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_centre = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "version"]
