"""How well the union catalogue's matcher finds duplicate MARC records.

    .venv/bin/python bench/dedup_marc.py [--loader marc|bib] [--errors 20] [--json]

Reads the labelled set bench/data/marc_dupes_gold.tsv (real records of the shared corpus,
../shared/data/marc beside the repository, labelled by hand as the same manifestation or not;
its header gives the rules), finds each record in its file by position and checks its 001, and
turns it into a MatchRecord the way the catalogue does: `MatchRecord.from_marc` on the pymarc
record (`--loader marc`, the default), or `MatchRecord.from_bib` on what the simple loader
kede.catalog.marc keeps (`--loader bib`: no LCCN, OCLC number, carrier or nonfiling count).

Then, over the labelled records only: blocking (`candidate_pairs`), `match` on every candidate
pair, and `cluster` (without one_per_source: one library's file can hold two records of a book).
Prints pairwise precision, recall and F1 against the labelled pairs, for the matched pairs and
for the pairs inside the clusters, and blocking recall. `--errors N` lists N false positives and
N false negatives of `match`.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pymarc

from kede.catalog.dedup import MatchRecord, candidate_pairs, cluster, match
from kede.catalog.marc import bib_from_record

GOLD_FILE = Path(__file__).resolve().parent / "data" / "marc_dupes_gold.tsv"
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "marc"

Key = tuple[str, int]


@dataclass(frozen=True)
class GoldRecord:
    file: str
    position: int
    control_number: str
    cluster: str
    copies: int
    title: str

    @property
    def key(self) -> Key:
        return (self.file, self.position)


def load_gold(path: Path = GOLD_FILE) -> list[GoldRecord]:
    """The labelled records, in file order; lines starting with "#" are the header comment."""
    rows: list[GoldRecord] = []
    with path.open(encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle if not line.startswith("#")]
    header = lines[0].split("\t")
    assert header[:4] == ["file", "position", "001", "cluster"], header
    for line in lines[1:]:
        if not line.strip():
            continue
        file, position, control, cluster_id, copies, title = (line.split("\t") + [""] * 6)[:6]
        rows.append(GoldRecord(file, int(position), control, cluster_id, int(copies or 0), title))
    return rows


def gold_pairs(gold: list[GoldRecord]) -> set[tuple[Key, Key]]:
    """Every pair of records labelled as the same manifestation, as sorted key pairs."""
    members: dict[str, list[Key]] = defaultdict(list)
    for row in gold:
        members[row.cluster].append(row.key)
    return {
        (a, b) if a <= b else (b, a) for keys in members.values() for a, b in combinations(keys, 2)
    }


def iter_marc_records(path: Path) -> Iterator[tuple[int, pymarc.Record | None]]:
    """Every record of a file with the position kede.catalog.marc.read_marc_file gives it
    (1-based, unreadable records counted), as pymarc records: the same reader settings."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.lstrip()[:1] == b"<":
        yield from enumerate(pymarc.parse_xml_to_array(io.BytesIO(data)), start=1)
        return
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=False, permissive=True)
    # pymarc writes each MARC-8 character it cannot map to stderr; the record is kept as read.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        records = list(reader)
    yield from enumerate(records, start=1)


def resolve(gold: list[GoldRecord], corpus: Path = CORPUS) -> dict[Key, pymarc.Record]:
    """The pymarc record behind each labelled row; raises LookupError naming a row whose file
    is missing, whose position holds no readable record, or whose 001 differs."""
    wanted: dict[str, dict[int, GoldRecord]] = defaultdict(dict)
    for row in gold:
        wanted[row.file][row.position] = row
    found: dict[Key, pymarc.Record] = {}
    for file, rows in wanted.items():
        path = corpus / file
        if not path.is_file():
            raise LookupError(f"{file}: not in the corpus")
        for position, record in iter_marc_records(path):
            row = rows.get(position)
            if row is None:
                continue
            control = record.get("001") if record is not None else None
            if control is None or (control.data or "").strip() != row.control_number:
                raise LookupError(f"{file} #{position}: 001 is not {row.control_number!r}")
            found[row.key] = record
        if missing := sorted(set(rows) - {p for f, p in found if f == file}):
            raise LookupError(f"{file}: no record at position {missing}")
    return found


def match_records(
    gold: list[GoldRecord], marc: dict[Key, pymarc.Record], loader: str = "marc"
) -> list[MatchRecord]:
    """One MatchRecord per labelled row, id (file, position), source = the file."""
    records = []
    for row in gold:
        record = marc[row.key]
        if loader == "marc":
            records.append(MatchRecord.from_marc(record, source=row.file, id=row.key))
        else:
            bib = MatchRecord.from_bib(bib_from_record(record), source=row.file)
            records.append(_with_id(bib, row.key))
    return records


def _with_id(record: MatchRecord, key: Key) -> MatchRecord:
    from dataclasses import replace

    return replace(record, id=key)


def quality(predicted: set, gold: set) -> dict:
    tp = len(predicted & gold)
    fp = len(predicted) - tp
    fn = len(gold) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
    }


def _pair(a: Key, b: Key) -> tuple[Key, Key]:
    return (a, b) if a <= b else (b, a)


def evaluate(loader: str = "marc", max_block: int = 100, corpus: Path = CORPUS) -> dict:
    """Resolve, convert, block, match and cluster the labelled records; every figure in one
    dict (internals kept under "_")."""
    gold_rows = load_gold()
    gold = gold_pairs(gold_rows)
    marc = resolve(gold_rows, corpus)
    start = time.perf_counter()
    records = match_records(gold_rows, marc, loader)
    converted = time.perf_counter()
    candidates = [_pair(a.id, b.id) for a, b in candidate_pairs(records, max_block=max_block)]
    by_id = {r.id: r for r in records}
    decisions = {pair: match(by_id[pair[0]], by_id[pair[1]]) for pair in candidates}
    matched = time.perf_counter()
    predicted = {pair for pair, d in decisions.items() if d.same}
    groups = cluster(records, max_block=max_block)
    clustered = {_pair(a, b) for group in groups for a, b in combinations(group, 2)}
    clusters = {row.cluster for row in gold_rows}
    return {
        "dataset": "MARC duplicates (bench/data/marc_dupes_gold.tsv)",
        "loader": loader,
        "records": len(records),
        "gold_clusters": len(clusters),
        "true_pairs": len(gold),
        "identical_copies_left_out": sum(row.copies for row in gold_rows),
        "candidate_pairs": len(candidates),
        "all_pairs": len(records) * (len(records) - 1) // 2,
        "blocking_recall": round(len(gold & set(candidates)) / len(gold), 4) if gold else 1.0,
        "pairs": quality(predicted, gold),
        "clusters": quality(clustered, gold),
        "seconds": {
            "convert": round(converted - start, 3),
            "block_and_match": round(matched - converted, 3),
        },
        "_": {"gold": gold, "predicted": predicted, "decisions": decisions, "by_id": by_id},
    }


def summary_line(result: dict) -> str:
    p, c = result["pairs"], result["clusters"]
    return (
        f"MARC gold ({result['loader']}): pairs P {p['precision']:.4f} R {p['recall']:.4f} "
        f"F1 {p['f1']:.4f} (FP {p['false_positives']}, FN {p['false_negatives']}) | "
        f"clusters P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f} | "
        f"{result['records']} records, {result['true_pairs']} true pairs, "
        f"blocking recall {result['blocking_recall']:.4f}"
    )


def _show(pair: tuple[Key, Key], internals: dict) -> str:
    decision = internals["decisions"].get(pair)
    lines = [f"  {decision.reason if decision else 'not a candidate (blocking)'}"]
    for key in pair:
        r = internals["by_id"][key]
        lines.append(
            f"    {key[0]} #{key[1]}: {r.title} | {'; '.join(r.authors)} | {r.venue} | "
            f"{r.year} | ed {r.edition!r} | {getattr(r, 'carrier', '') or '-'} | "
            f"ISBN {','.join(r.isbns)}"
        )
    return "\n".join(lines)


def show_errors(result: dict, limit: int) -> None:
    internals = result["_"]
    gold, predicted = internals["gold"], internals["predicted"]
    false_pos = sorted(predicted - gold, key=lambda p: -internals["decisions"][p].score)
    false_neg = sorted(gold - predicted)
    print(f"\nMARC false positives ({len(false_pos)}):")
    for pair in false_pos[:limit]:
        print(_show(pair, internals))
    print(f"\nMARC false negatives ({len(false_neg)}):")
    for pair in false_neg[:limit]:
        print(_show(pair, internals))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loader", choices=("marc", "bib"), default="marc")
    parser.add_argument("--max-block", type=int, default=100)
    parser.add_argument("--errors", type=int, default=0, help="list N false positives/negatives")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"MARC corpus not found: {CORPUS}", file=sys.stderr)
        return 2
    result = evaluate(loader=args.loader, max_block=args.max_block)
    internals = result.pop("_")
    if args.json:
        print(json.dumps(result))
        return 0
    print(summary_line(result))
    if args.errors:
        show_errors({**result, "_": internals}, args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
