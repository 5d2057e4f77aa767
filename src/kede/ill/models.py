"""Requests for copies and loans, on both sides, and their history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kede.catalog.models import Work
from kede.consortium.models import Institution
from kede.ill.states import RequesterState as R
from kede.ill.states import SupplierState as S


class ServiceType(models.TextChoices):
    COPY = "copy", _("Copy of an article or chapter")
    LOAN = "loan", _("Loan of a book")


class RequesterStatus(models.TextChoices):
    SUBMITTED = R.SUBMITTED, _("Submitted")
    SENT = R.SENT, _("Sent to a supplying library")
    IN_PROCESS = R.IN_PROCESS, _("Being supplied")
    CONDITIONAL = R.CONDITIONAL, _("The library asks you to agree to its conditions")
    CANCEL_PENDING = R.CANCEL_PENDING, _("Cancellation asked")
    DELIVERED = R.DELIVERED, _("Ready to download")
    COMPLETED = R.COMPLETED, _("Completed")
    PROBLEM = R.PROBLEM, _("Problem reported: waiting for a new copy")
    SHIPPED = R.SHIPPED, _("On its way to your library")
    RECEIVED = R.RECEIVED, _("Ready to collect at your library")
    CHECKED_OUT = R.CHECKED_OUT, _("On loan to you")
    OVERDUE = R.OVERDUE, _("Overdue: please return it")
    RECALLED = R.RECALLED, _("Recalled: please return it now")
    RENEW_PENDING = R.RENEW_PENDING, _("Renewal asked")
    RETURNED = R.RETURNED, _("Returned by you")
    RETURN_SHIPPED = R.RETURN_SHIPPED, _("On its way back to the lending library")
    LOST = R.LOST, _("Reported lost")
    CANCELLED = R.CANCELLED, _("Cancelled")
    UNFILLED = R.UNFILLED, _("Could not be supplied")


class SupplierStatus(models.TextChoices):
    RECEIVED = S.RECEIVED, _("To review")
    WILL_SUPPLY = S.WILL_SUPPLY, _("Will supply")
    CONDITIONAL = S.CONDITIONAL, _("Conditions offered")
    CANCEL_REQUESTED = S.CANCEL_REQUESTED, _("Requester asks to cancel")
    DELIVERED = S.DELIVERED, _("Delivered")
    REDO = S.REDO, _("Copy to replace")
    SHIPPED = S.SHIPPED, _("Shipped")
    OVERDUE = S.OVERDUE, _("Overdue")
    RECALLED = S.RECALLED, _("Recalled")
    RENEW_REQUESTED = S.RENEW_REQUESTED, _("Renewal asked")
    RETURN_SHIPPED = S.RETURN_SHIPPED, _("Being returned")
    LOST = S.LOST, _("Reported lost by the requester")
    COMPLETED = S.COMPLETED, _("Completed")
    UNFILLED = S.UNFILLED, _("Cannot supply")
    CANCELLED = S.CANCELLED, _("Cancelled by requester")


class UnfilledReason(models.TextChoices):
    # The ISO 18626 ReasonUnfilled values a supplier most often gives.
    NOT_HELD = "not_held", _("Not held")
    NOT_ON_SHELF = "not_on_shelf", _("Not on shelf")
    NOT_AVAILABLE = "not_available", _("Not available for interlibrary loan")
    POOR_CONDITION = "poor_condition", _("Too fragile or damaged to copy")
    COPYRIGHT = "copyright", _("Copyright does not allow it")
    NO_ANSWER = "no_answer", _("No answer in time")
    OTHER = "other", _("Other reason")


class CopyProblem(models.TextChoices):
    ILLEGIBLE = "illegible", _("Illegible")
    INCOMPLETE = "incomplete", _("Incomplete: pages missing")
    WRONG = "wrong", _("Wrong article or chapter")


class Request(models.Model):
    """The requester side: a reader's request, owned by the reader's library."""

    number = models.CharField(_("request number"), max_length=20, unique=True, null=True)  # noqa: DJ001 — set just after insert
    # None when the requesting library is on another system (ISO 18626): this node then holds
    # its own copy of the requester side, driven by that system's messages.
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ill_requests",
        null=True,
        blank=True,
    )
    requester = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="borrowing_requests"
    )
    service_type = models.CharField(
        _("service"), max_length=8, choices=ServiceType.choices, default=ServiceType.COPY
    )
    state = models.CharField(
        _("status"), max_length=16, choices=RequesterStatus.choices, default=R.SUBMITTED
    )
    work = models.ForeignKey(Work, on_delete=models.SET_NULL, null=True, blank=True)
    # The citation, as the reader gave it.
    title = models.CharField(_("article or chapter title"), max_length=1000)
    author = models.CharField(_("author"), max_length=500, blank=True)
    container_title = models.CharField(_("journal or book"), max_length=1000, blank=True)
    volume = models.CharField(_("volume"), max_length=50, blank=True)
    issue = models.CharField(_("issue"), max_length=50, blank=True)
    year = models.CharField(_("year"), max_length=4, blank=True)
    pages = models.CharField(_("pages"), max_length=50, blank=True)
    issn = models.CharField(_("ISSN"), max_length=9, blank=True)
    isbn = models.CharField(_("ISBN"), max_length=17, blank=True)
    doi = models.CharField(_("DOI"), max_length=200, blank=True)
    note = models.TextField(_("note"), blank=True)
    needed_by = models.DateField(_("needed by"), null=True, blank=True)
    # The requesting agency's own id for this request, when it lives on another system.
    remote_id = models.CharField(_("requester's request id"), max_length=100, blank=True)
    # The last problem the reader reported with a delivered copy, if any.
    problem = models.CharField(
        _("problem with the copy"), max_length=16, choices=CopyProblem.choices, blank=True
    )
    problem_note = models.TextField(_("problem described"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        indexes = [
            models.Index(fields=["requester", "state"]),
            models.Index(fields=["reader", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.number or self.pk}: {self.title[:60]}"


class SupplyRequest(models.Model):
    """The supplier side: the request as one supplying library sees and answers it."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="supplies")
    supplier = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="lending_requests"
    )
    position = models.PositiveSmallIntegerField(_("place in rota"))
    state = models.CharField(
        _("status"), max_length=16, choices=SupplierStatus.choices, default=S.RECEIVED
    )
    reason = models.CharField(
        _("reason"), max_length=32, choices=UnfilledReason.choices, blank=True
    )
    note = models.TextField(_("note"), blank=True)
    # A conditional answer (ISO 18626 RetryPossible): the terms the requester accepts or not.
    conditions = models.TextField(_("conditions"), blank=True)
    offered_cost = models.DecimalField(
        _("cost asked"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    # Loans: when the item is due back at the supplier.
    due_date = models.DateField(_("due back"), null=True, blank=True)
    # The supplying agency's own id for this request, when it lives on another system.
    remote_id = models.CharField(_("supplier's request id"), max_length=100, blank=True)
    # Where that system offers the delivered copy, until it is fetched.
    delivery_url = models.URLField(_("copy to fetch"), max_length=1000, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("supply request")
        verbose_name_plural = _("supply requests")
        constraints = [
            models.UniqueConstraint(fields=["request", "supplier"], name="uniq_supply_supplier"),
            models.UniqueConstraint(fields=["request", "position"], name="uniq_supply_position"),
        ]
        indexes = [models.Index(fields=["supplier", "state"])]

    def __str__(self) -> str:
        return f"{self.request} → {self.supplier.code}"


class RequestEvent(models.Model):
    """One state change (or note) on either side: the history readers and librarians see."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="events")
    supply = models.ForeignKey(
        SupplyRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    side = models.CharField(max_length=10)  # "requester" or "supplier"
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")


class PeerVersion(models.TextChoices):
    V1_2 = "1.2", "ISO 18626:2017 (1.2)"
    V2021_2 = "2021-2", "ISO 18626:2021 (2021-2)"


class Peer(models.Model):
    """Another ILL system (another Kede node or another vendor's), addressed by agency id."""

    agency_type = models.CharField(_("agency id type"), max_length=32)
    agency_value = models.CharField(_("agency id value"), max_length=64)
    url = models.URLField(_("ISO 18626 endpoint"), max_length=500)
    version = models.CharField(
        _("protocol version"), max_length=8, choices=PeerVersion.choices, default=PeerVersion.V1_2
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("peer")
        verbose_name_plural = _("peers")
        constraints = [
            models.UniqueConstraint(fields=["agency_type", "agency_value"], name="uniq_peer_agency")
        ]

    def __str__(self) -> str:
        return f"{self.agency_type}:{self.agency_value}"


class MessageDirection(models.TextChoices):
    OUT = "out", _("sent")
    IN = "in", _("received")


class MessageStatus(models.TextChoices):
    # Both sides hosted here: recorded like any message, handled in the same transaction.
    LOCAL = "local", _("within this system")
    PENDING = "pending", _("waiting to be sent")
    CONFIRMED = "confirmed", _("confirmed by the peer")
    REJECTED = "rejected", _("refused by the peer")
    ACCEPTED = "accepted", _("accepted")
    IGNORED = "ignored", _("accepted, changed nothing")


class IsoMessage(models.Model):
    """One ISO 18626 message of a request, sent or received: the outbox, the inbox and the
    message log staff read, in one table.

    Outgoing messages are written in the same transaction as the state change that causes
    them and sent by the worker until the peer confirms them; incoming ones are keyed so the
    same message twice changes nothing.
    """

    request = models.ForeignKey(
        Request, on_delete=models.CASCADE, related_name="messages", null=True, blank=True
    )
    supply = models.ForeignKey(
        SupplyRequest, on_delete=models.CASCADE, related_name="messages", null=True, blank=True
    )
    direction = models.CharField(max_length=3, choices=MessageDirection.choices)
    kind = models.CharField(max_length=40)  # Request, SupplyingAgencyMessage, …
    summary = models.CharField(max_length=100, blank=True)  # e.g. "Loaned", "Cancel"
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, null=True, blank=True)
    body = models.BinaryField()
    version = models.CharField(max_length=8, default="1.2")
    key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("ISO 18626 message")
        verbose_name_plural = _("ISO 18626 messages")
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "key"],
                condition=models.Q(direction="in") & ~models.Q(key=""),
                name="uniq_incoming_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.summary}"
