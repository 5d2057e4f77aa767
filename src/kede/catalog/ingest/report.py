"""What happened to every record of a load: counts per outcome and reason, and the rejected
records listed with where they were and why. Pure: no Django; `as_dict()` is JSON for the
Django layer to store or show."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

ACCEPTED = "accepted"
DELETED = "deleted"
REJECTED = "rejected"

# Why a record is rejected.
UNREADABLE = "unreadable"
NO_TITLE = "no-title"
NO_LOCAL_ID = "no-local-id"
OUT_OF_SCOPE = "out-of-scope"
UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True)
class Rejection:
    position: int
    category: str
    reason: str
    local_id: str = ""
    offset: int | None = None
    line: int | None = None
    source: str = ""


@dataclass
class IngestReport:
    """Counts of everything, and the first `max_listed` rejections in full (the counts stay
    exact however many there are). One report can gather several files (`source` names the
    file a rejection came from)."""

    max_listed: int = 1000
    outcomes: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    rejected_categories: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    warnings: int = 0
    warning_samples: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    holdings: int = 0
    copies: int = 0

    @property
    def read(self) -> int:
        return sum(self.outcomes.values())

    @property
    def accepted(self) -> int:
        return self.outcomes[ACCEPTED]

    @property
    def deleted(self) -> int:
        return self.outcomes[DELETED]

    @property
    def rejected_total(self) -> int:
        return self.outcomes[REJECTED]

    @property
    def rejected_unlisted(self) -> int:
        """Rejections counted but not listed (beyond `max_listed`)."""
        return self.rejected_total - len(self.rejected)

    def add_accepted(self, *, category: str = "", holdings: int = 0, copies: int = 0) -> None:
        self.outcomes[ACCEPTED] += 1
        if category:
            self.categories[category] += 1
        self.holdings += holdings
        self.copies += copies

    def add_deleted(self) -> None:
        self.outcomes[DELETED] += 1

    def add_rejected(self, rejection: Rejection) -> None:
        self.outcomes[REJECTED] += 1
        self.categories[rejection.category] += 1
        self.rejected_categories[rejection.category] += 1
        if len(self.rejected) < self.max_listed:
            self.rejected.append(rejection)

    def add_warnings(self, warnings: tuple[str, ...] | list[str], where: str = "") -> None:
        self.warnings += len(warnings)
        for warning in warnings:
            if len(self.warning_samples) >= min(self.max_listed, 100):
                break
            self.warning_samples.append(f"{where}: {warning}" if where else warning)

    def merge(self, other: IngestReport) -> None:
        self.outcomes.update(other.outcomes)
        self.categories.update(other.categories)
        self.rejected_categories.update(other.rejected_categories)
        self.formats.update(other.formats)
        self.warnings += other.warnings
        self.holdings += other.holdings
        self.copies += other.copies
        room = self.max_listed - len(self.rejected)
        self.rejected.extend(other.rejected[: max(room, 0)])
        room = min(self.max_listed, 100) - len(self.warning_samples)
        self.warning_samples.extend(other.warning_samples[: max(room, 0)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "outcomes": dict(self.outcomes),
            "categories": dict(self.categories),
            "rejected_categories": dict(self.rejected_categories),
            "formats": dict(self.formats),
            "holdings": self.holdings,
            "copies": self.copies,
            "warnings": self.warnings,
            "warning_samples": list(self.warning_samples),
            "rejected": [asdict(r) for r in self.rejected],
            "rejected_unlisted": self.rejected_unlisted,
        }
