"""Members' records merged into works, in the database.

The pure matcher (`kede.catalog.dedup`) decides whether two records describe the same
publication; this module keeps the result true as records arrive, change and go:

- a new or changed record is compared with the records that share one of its blocking keys
  (stored as `MatchKey` rows, so finding them is an index lookup, not a scan), at most one
  per other source, and joins the work of those it matches; when they belong to several
  works, those works are merged;
- a changed record that no longer matches its old work's other records leaves it, and the
  old work is re-clustered, so a work whose records stopped agreeing splits in two;
- a deleted record takes its holding with it; a work left with no records goes.

Each work shows its best record (`quality`, from `dedup.display_quality`). Call inside a
transaction; the ingest service batches records into transactions.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from kede.catalog.dedup import (
    MatchRecord,
    blocking_keys,
    cluster,
    match,
    years_too_far_apart,
)
from kede.catalog.models import CatalogRecord, Holding, MatchKey, Source, Work
from kede.catalog.normalise import fold_text
from kede.core.bulk import insert_many, insert_returning_ids, update_many

# A title-word block bigger than this is a stock title ("Annual report"): comparing the whole
# of it says little and costs much. Identifier blocks are always used.
MAX_BLOCK = 200
_ID_KEY_PREFIXES = ("isbn:", "issn:", "lccn:", "oclc:")


@dataclass
class Changes:
    """What one batch did to the works, for the load's report and the search index."""

    records_added: int = 0
    records_updated: int = 0
    records_deleted: int = 0
    works_created: int = 0
    works_merged: int = 0
    works_split: int = 0
    touched: set[int] = field(default_factory=set)  # work ids to refresh and re-index
    removed: set[int] = field(default_factory=set)  # work ids gone
    # Works made from one new record and shown from it already (`_work_values`): nothing to
    # refresh unless something else touches them afterwards.
    shown: set[int] = field(default_factory=set)

    def touch(self, work_id: int) -> None:
        """The work changed: refresh and re-index it."""
        self.touched.add(work_id)
        self.shown.discard(work_id)

    def to_refresh(self) -> set[int]:
        """The works whose shown values may be out of date."""
        return self.touched - self.removed - self.shown

    def add(self, other: Changes) -> None:
        for name in ("records_added", "records_updated", "records_deleted", "works_created",
                     "works_merged", "works_split"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.touched |= other.touched
        self.removed |= other.removed
        self.shown = (self.shown - other.touched) | other.shown


def match_to_json(record: MatchRecord) -> dict:
    # Its fields are strings, numbers and tuples of strings: no deep copy needed.
    return {name: getattr(record, name) for name in _MATCH_ORDER}


def match_from_json(record_id: int, data: dict) -> MatchRecord:
    values = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in data.items()
        if name in _MATCH_FIELDS
    }
    return MatchRecord(id=record_id, **values)


_MATCH_ORDER = tuple(f.name for f in dataclasses.fields(MatchRecord) if f.name != "id")
_MATCH_FIELDS = set(_MATCH_ORDER)


def _is_id_key(key: str) -> bool:
    return key.startswith(_ID_KEY_PREFIXES)


def _set_keys(record: CatalogRecord, keys: set[str], *, fresh: bool = False) -> None:
    """The record's blocking keys; a `fresh` record (just created) has none yet."""
    keys = {k[:120] for k in keys}
    old = set() if fresh else set(record.keys.values_list("key", flat=True))
    if old - keys:
        record.keys.filter(key__in=old - keys).delete()
    if keys - old:
        MatchKey.objects.bulk_create([MatchKey(key=k, record=record) for k in keys - old])


def _candidates(record: CatalogRecord, keys: set[str]) -> list[CatalogRecord]:
    """Other sources' records sharing a usable key with this one, in one statement: the
    identifier blocks always, a title block only while it holds at most MAX_BLOCK records."""
    keys = sorted({k[:120] for k in keys})
    if not keys:
        return []
    id_keys = [k for k in keys if _is_id_key(k)] or [""]
    mk, cr = MatchKey._meta.db_table, CatalogRecord._meta.db_table
    # Table names from the models; every value is a parameter.
    sql = (
        f'WITH sizes AS (SELECT "key", COUNT(*) AS n FROM {mk} '  # noqa: S608
        f'WHERE "key" IN ({", ".join(["%s"] * len(keys))}) GROUP BY "key") '
        f'SELECT id, source_id, work_id, "match" FROM {cr} WHERE source_id <> %s AND id IN ('
        f'SELECT DISTINCT k.record_id FROM {mk} k JOIN sizes s ON s."key" = k."key" '
        # the keys again, so the key index is used on this side too, whatever the planner's
        # statistics say (during a first big load they are stale)
        f'WHERE k."key" IN ({", ".join(["%s"] * len(keys))}) '
        f'AND (s.n <= %s OR s."key" IN ({", ".join(["%s"] * len(id_keys))})) '
        "AND k.record_id <> %s LIMIT %s)"
    )
    params = [*keys, record.source_id, *keys, MAX_BLOCK, *id_keys, record.id, MAX_BLOCK * 4]
    return list(CatalogRecord.objects.raw(sql, params))


def _matches(record: CatalogRecord, mine: MatchRecord) -> list[CatalogRecord]:
    """The candidates it matches, the best one per other source (a library does not catalogue
    one edition twice)."""
    best: dict[int, tuple[float, CatalogRecord]] = {}
    for other in _candidates(record, blocking_keys(mine)):
        decision = match(mine, match_from_json(other.id, other.match))
        if decision.same and decision.score > best.get(other.source_id, (-1.0, None))[0]:
            best[other.source_id] = (decision.score, other)
    return [other for _score, other in best.values()]


def _new_work(changes: Changes) -> Work:
    work = Work.objects.create(title="…")
    changes.works_created += 1
    changes.touch(work.id)
    return work


def _merge(target: int, others: Iterable[int], changes: Changes) -> None:
    from kede.ill.models import Request  # requests follow their work into the merged one

    others = [w for w in others if w != target]
    if not others:
        return
    CatalogRecord.objects.filter(work_id__in=others).update(work_id=target)
    Holding.objects.filter(work_id__in=others).update(work_id=target)
    Request.objects.filter(work_id__in=others).update(work_id=target)
    Work.objects.filter(id__in=others).delete()
    changes.works_merged += len(others)
    changes.removed |= set(others)
    changes.touch(target)


def _recluster(work_id: int, changes: Changes) -> None:
    """The records left in a work after one moved out: if they no longer hang together, the
    work splits (the largest group keeps it)."""
    records = list(CatalogRecord.objects.filter(work_id=work_id).only("id", "source_id", "match"))
    if not records:
        _drop_work(work_id, changes)
        return
    if len(records) == 1:
        changes.touch(work_id)
        return
    by_id = {r.id: r for r in records}
    groups = cluster(
        [
            dataclasses.replace(match_from_json(r.id, r.match), source=str(r.source_id))
            for r in records
        ],
        one_per_source=True,
    )
    groups.sort(key=len, reverse=True)
    changes.touch(work_id)
    for group in groups[1:]:
        work = _new_work(changes)
        CatalogRecord.objects.filter(id__in=group).update(work=work)
        Holding.objects.filter(record_id__in=[by_id[i].id for i in group]).update(work=work)
        changes.works_split += 1


def _drop_work(work_id: int, changes: Changes) -> None:
    Work.objects.filter(id=work_id).delete()
    changes.removed.add(work_id)
    changes.touched.discard(work_id)


def records_prepare(
    source: Source, wanted: dict[str, dict]
) -> tuple[dict[str, CatalogRecord], set[str]]:
    """A batch's records of one source, by local id, with the missing ones created (without a
    work yet, from `wanted`'s values) in one statement; and the local ids that were created.
    Hand each to `record_store` (`record=`, `created=`) to match it."""
    found = {
        r.local_id: r
        for r in CatalogRecord.objects.filter(source=source, local_id__among=list(wanted))
    }
    missing = [local_id for local_id in wanted if local_id not in found]
    if missing:
        now = timezone.now()
        made = {
            i: CatalogRecord(source=source, local_id=i, updated_at=now, **wanted[i])
            for i in missing
        }
        insert_many(
            CatalogRecord,
            ["source", "local_id", "match", "display", "quality", "harvest_id", "updated_at"],
            [
                [source.id, r.local_id, r.match, r.display, r.quality, r.harvest_id, now]
                for r in made.values()
            ],
            ignore_conflicts=True,  # another load of this source may have made one meanwhile
        )
        # Only the new ids are read back: the rows hold what was just written.
        ids = CatalogRecord.objects.filter(source=source, local_id__among=missing).values_list(
            "local_id", "id"
        )
        for local_id, record_id in ids:
            record = made[local_id]
            record.pk = record_id
            record._state.adding, record._state.db = False, CatalogRecord.objects.db
            found[local_id] = record
    return found, set(missing)


def record_store(
    *,
    source: Source,
    local_id: str,
    mine: MatchRecord,
    display: dict,
    quality: int,
    changes: Changes,
    harvest_id: str = "",
    record: CatalogRecord | None = None,
    created: bool = False,
) -> CatalogRecord:
    """Store a member's record (new or changed) and put it in the right work. `harvest_id` is
    the OAI-PMH identifier it came under, if harvested. `record` is the row when the caller
    fetched or made it already (`records_prepare`), `created` whether it was just made."""
    values = {
        "match": match_to_json(mine),
        "display": display,
        "quality": quality,
        "harvest_id": harvest_id[:300],
    }
    if record is None:
        record, created = CatalogRecord.objects.get_or_create(
            source=source, local_id=local_id, defaults=values
        )
    old_work = record.work_id
    if created:
        changes.records_added += 1
    else:
        record.match, record.display, record.quality = values["match"], display, quality
        if harvest_id:
            record.harvest_id = values["harvest_id"]
        changes.records_updated += 1
    mine = dataclasses.replace(mine, id=record.id, source=str(source.id))
    _set_keys(record, blocking_keys(mine), fresh=created)
    matched = _matches(record, mine)
    works = sorted({m.work_id for m in matched if m.work_id})
    if works:
        target = works[0]
        _merge(target, works[1:], changes)
    elif old_work and CatalogRecord.objects.filter(work_id=old_work).exclude(id=record.id).exists():
        target = _new_work(changes).id  # it no longer belongs with its old work's records
        changes.works_split += 1
    elif old_work:
        target = old_work
    else:
        target = _new_work(changes).id
    record.work_id = target
    record.save(update_fields=["match", "display", "quality", "harvest_id", "work", "updated_at"])
    if old_work and old_work != target:
        Holding.objects.filter(record=record).update(work_id=target)
    changes.touch(target)
    if old_work and old_work != target and old_work not in changes.removed:
        if CatalogRecord.objects.filter(work_id=old_work).exists():
            _recluster(old_work, changes)
        else:
            # Its only record now belongs to another work: the two are one (requests and
            # links to the old work follow).
            _merge(target, [old_work], changes)
    return record


@dataclass
class Incoming:
    """A member's record as a load hands it over: its id, what matching needs, what the work
    shows from it, how good a display record it is, the OAI-PMH identifier it came under."""

    local_id: str
    mine: MatchRecord
    display: dict
    quality: int
    harvest_id: str = ""

    def values(self) -> dict:
        return {
            "match": match_to_json(self.mine),
            "display": self.display,
            "quality": self.quality,
            "harvest_id": self.harvest_id[:300],
        }


def _as_stored(values: dict) -> dict:
    """Values as they read back from the database's JSON (tuples become lists)."""
    return json.loads(json.dumps(values))


def records_store(
    source: Source, items: list[Incoming], changes: Changes
) -> dict[str, CatalogRecord]:
    """Store many records of one source at once (each local id once): the new ones placed
    into works together, in a few statements for the whole batch (`_place_new`); records
    received again unchanged left as they are; changed ones one by one (`record_store`: they
    may leave their work, split it or merge two). Returns the rows by local id."""
    wanted = {item.local_id: item.values() for item in items}
    records, fresh = records_prepare(source, wanted) if wanted else ({}, set())
    for item in items:
        if item.local_id in fresh:
            continue
        record = records[item.local_id]
        stored = _as_stored(wanted[item.local_id])
        if (
            record.work_id
            and record.match == stored["match"]
            and record.display == stored["display"]
            and record.quality == item.quality
            and (not item.harvest_id or record.harvest_id == stored["harvest_id"])
        ):
            changes.records_updated += 1  # received again, nothing to do
            continue
        records[item.local_id] = record_store(
            source=source,
            local_id=item.local_id,
            mine=item.mine,
            display=item.display,
            quality=item.quality,
            harvest_id=item.harvest_id,
            changes=changes,
            record=record,
            created=False,
        )
    _place_new(source, [(records[i.local_id], i) for i in items if i.local_id in fresh], changes)
    return records


_CHUNK = 500  # values per IN (…): far below every database's limit on parameters


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Candidate(NamedTuple):
    """Another source's record, as far as placing a new record needs it: its year read by the
    database, its matching form only when a comparison needs it (decoding it costs more than
    most comparisons)."""

    id: int
    source_id: int
    work_id: int | None
    year: int | None
    text: str

    @property
    def mine(self) -> MatchRecord:
        return _match_forms.get(self.id, self.text)


def _year(value: object) -> int | None:
    """The stored matching form's year as the database gives it back: a number, its text
    (SQLite's and PostgreSQL's JSON extraction differ), or nothing."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _MatchForms:
    """Stored records' matching forms as last read, by record id, with the JSON text they
    were read from: over a long load one record meets new records batch after batch, and
    decoding it each time cost more than comparing it. A record whose stored text has changed
    since (another load, another process) is read again; the oldest are forgotten first, so
    memory stays bounded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.forms: OrderedDict[int, tuple[str, MatchRecord]] = OrderedDict()
        self.lock = threading.Lock()  # loads in threads of one process share it

    def get(self, record_id: int, text: str) -> MatchRecord:
        with self.lock:
            found = self.forms.get(record_id)
            if found is not None and found[0] == text:
                self.forms.move_to_end(record_id)
                return found[1]
        form = match_from_json(record_id, json.loads(text))
        with self.lock:
            self.forms[record_id] = (text, form)
            if len(self.forms) > self.size:
                self.forms.popitem(last=False)
        return form


# As many as the matcher keeps normalised forms of (`dedup.features`).
_match_forms = _MatchForms(size=16384)


def _candidates_by_key(
    source_id: int, keys: set[str]
) -> tuple[dict[str, list[int]], dict[int, _Candidate]]:
    """For many records' keys at once: other sources' records in each usable block (the
    identifier blocks always, a title block only while it holds at most MAX_BLOCK records),
    and those records."""
    ordered = sorted(keys)
    sizes: dict[str, int] = {}
    for chunk in _chunks(ordered):
        sizes.update(
            MatchKey.objects.filter(key__among=chunk)
            .values_list("key")
            .annotate(n=models.Count("id"))
            .order_by()
        )
    usable = [k for k in ordered if _is_id_key(k) or sizes.get(k, 0) <= MAX_BLOCK]
    by_key: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(usable):
        rows = (
            MatchKey.objects.filter(key__among=chunk)
            .exclude(record__source_id=source_id)
            .values_list("key", "record_id")
        )
        for key, record_id in rows:
            by_key[key].append(record_id)
    ids = sorted({i for found in by_key.values() for i in found})
    records: dict[int, _Candidate] = {}
    for chunk in _chunks(ids):
        # Plain rows, the matching form as stored text: a model instance per candidate, or
        # its JSON decoded again, costs more than the comparison.
        rows = CatalogRecord.objects.filter(id__among=chunk).values_list(
            "id",
            "source_id",
            "work_id",
            KeyTextTransform("year", "match"),
            Cast("match", models.TextField()),
        )
        records.update(
            (i, _Candidate(i, source_id, work_id, _year(year), text))
            for i, source_id, work_id, year, text in rows
        )
    return by_key, records


def _place_new(
    source: Source, pairs: list[tuple[CatalogRecord, Incoming]], changes: Changes
) -> None:
    """Records just created (by `records_prepare`) put into works as `record_store` would,
    for the whole batch at once: their keys in one statement, the other sources' records
    sharing them in a few, the comparisons in memory, the new works in one statement and the
    records' works in one more. Records of this source never match each other (a library
    does not catalogue one edition twice), so the order within the batch does not matter."""
    if not pairs:
        return
    mine_of: dict[int, MatchRecord] = {}
    keys_of: dict[int, set[str]] = {}
    for record, item in pairs:
        mine = dataclasses.replace(item.mine, id=record.id, source=str(source.id))
        mine_of[record.id] = mine
        keys_of[record.id] = {k[:120] for k in blocking_keys(mine)}
    insert_many(
        MatchKey,
        ["key", "record"],
        [[k, rid] for rid, keys in keys_of.items() for k in sorted(keys)],
    )
    by_key, others = _candidates_by_key(source.id, set().union(*keys_of.values()))
    moved: dict[int, int] = {}  # work merged away → the work it went into

    def current(work_id: int) -> int:
        while work_id in moved:
            work_id = moved[work_id]
        return work_id

    target_of: dict[int, int] = {}
    homeless: list[CatalogRecord] = []
    for record, _item in pairs:
        found = sorted({i for k in keys_of[record.id] for i in by_key.get(k, ())})
        best: dict[int, tuple[float, int]] = {}
        mine = mine_of[record.id]
        for other_id in found[: MAX_BLOCK * 4]:
            other = others[other_id]
            if years_too_far_apart(mine.year, other.year):
                continue  # what `match` would refuse first, without decoding the other
            decision = match(mine, other.mine)
            if decision.same and decision.score > best.get(other.source_id, (-1.0, 0))[0]:
                best[other.source_id] = (decision.score, other.work_id)
        works = sorted({current(w) for _score, w in best.values() if w})
        if not works:
            homeless.append(record)
            continue
        target_of[record.id] = works[0]
        if works[1:]:
            _merge(works[0], works[1:], changes)
            moved.update((w, works[0]) for w in works[1:])
    now = timezone.now()
    made = insert_returning_ids(
        Work,
        [*_FIELDS, "updated_at"],
        [[*_work_values(record.display, mine_of[record.id]), now] for record in homeless],
    )
    for record, work_id in zip(homeless, made, strict=True):
        target_of[record.id] = work_id
    changes.works_created += len(made)
    placed = []
    for record, _item in pairs:
        record.work_id = current(target_of[record.id])
        placed.append(record)
        changes.touch(record.work_id)
    changes.shown.update(made)
    update_many(CatalogRecord, ["work"], placed)
    changes.records_added += len(pairs)


def _work_values(display: dict, mine: MatchRecord) -> list[str]:
    """A new work's columns (`_FIELDS`) shown from its one record, as `works_refresh` would
    show it."""
    work = Work(**{name: str(display.get(name) or "")[: _LIMITS[name]] for name in _SHOWN})
    work.search_text = _search_text(work, {*mine.isbns, *mine.issns})
    return [getattr(work, name) for name in _FIELDS]


def record_remove(*, source: Source, local_id: str, changes: Changes) -> bool:
    """The member deleted the record: its holding goes, and its work if nothing is left."""
    record = CatalogRecord.objects.filter(source=source, local_id=local_id).first()
    if record is None:
        return False
    work_id = record.work_id
    record.delete()  # its keys and holding go with it
    changes.records_deleted += 1
    if work_id:
        _recluster(work_id, changes)
    return True


_SHOWN = ("title", "author", "publisher", "year", "edition", "isbn", "issn", "format",
          "language", "title_vernacular", "lccn", "oclc", "classification")  # fmt: skip
_FIELDS = (*_SHOWN, "search_text")
_LIMITS = {name: Work._meta.get_field(name).max_length for name in _SHOWN}


def works_refresh(work_ids: Iterable[int]) -> None:
    """Show each work from its best record, and keep its search text and identifiers (two
    reads for any number of works, and a write for each that changed)."""
    ids = list(work_ids)
    if not ids:
        return
    best: dict[int, tuple[tuple[int, int], dict]] = {}
    numbers: dict[int, set[str]] = defaultdict(set)
    for work_id, quality, record_id, display, found in CatalogRecord.objects.filter(
        work_id__among=ids
    ).values_list("work_id", "quality", "id", "display", "match"):
        rank = (-quality, record_id)
        if work_id not in best or rank < best[work_id][0]:
            best[work_id] = (rank, display)
        numbers[work_id].update([*found.get("isbns", ()), *found.get("issns", ())])
    changed = []
    now = timezone.now()
    for work in Work.objects.filter(id__among=list(best)):
        shown = best[work.id][1]
        before = [getattr(work, name) for name in _FIELDS]
        for name in _SHOWN:
            setattr(work, name, str(shown.get(name) or "")[: _LIMITS[name]])
        work.search_text = _search_text(work, numbers[work.id])
        if [getattr(work, name) for name in _FIELDS] != before:  # unchanged: no write
            work.updated_at = now
            changed.append(work)
    update_many(Work, [*_FIELDS, "updated_at"], changed)


def _search_text(work: Work, numbers: set[str] | None = None) -> str:
    if numbers is None:
        identifiers = CatalogRecord.objects.filter(work=work).values_list("match", flat=True)
        numbers = {n for m in identifiers for n in [*m.get("isbns", ()), *m.get("issns", ())]}
    parts = [work.title, work.title_vernacular, work.author, work.publisher, *sorted(numbers)]
    return " ".join(fold_text(p) for p in parts if p)
