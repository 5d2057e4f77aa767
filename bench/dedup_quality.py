"""How well the union catalogue's matcher finds the same publication in two sources.

    .venv/bin/python bench/dedup_quality.py [--max-block 100] [--errors 20] [--repeat 3] [--json]

One summary line per data set first - DBLP–ACM, then the labelled real MARC duplicates of
bench/data/marc_dupes_gold.tsv (measured by bench/dedup_marc.py, which can also run alone) -
then the DBLP–ACM details below. `--json` prints one object: the DBLP–ACM figures at the top
level as before, the MARC figures under "marc".

Reads the DBLP–ACM gold standard (pyJedAI's copy, ../shared/data/goldstd/pyjedai beside the
repository: 2,616 DBLP and 2,294 ACM records, 2,224 true pairs), indexes both sources with
`kede.catalog.dedup.blocking_keys`, decides every candidate pair across the sources with
`match`, and prints pairwise precision, recall and F1 against the gold pairs, the number of
candidate pairs against the full cross product, blocking recall (the share of true pairs that
blocking lets through), and throughput (one core, best of `--repeat` runs from cold caches).
`--errors N` lists N false positives and N false negatives of `match`.

Then the same figures for `cluster(..., one_per_source=True)`, the pairs inside the groups a
catalogue would show: each source is taken to be free of duplicates (true of DBLP–ACM, whose
gold standard is one-to-one), so among indistinguishable records ("Book review column", same
editor, same year, four issues in each source) each keeps one partner instead of all of them.
`match` alone cannot tell those apart; that is most of the gap between the two F1 figures.

File facts (checked by eye on pairs from gt.csv): `%`-separated, header line, 0-based row ids;
gt.csv's D1 column is the DBLP row, D2 the ACM row. DBLP writes a lost non-ASCII character as
"?" ("Jos? A. Blakeley") and an unknown author list as "?". ACM has HTML entities ("Lud&#228;
scher", "&mdash;"), and 14 rows whose authors field is missing, with the venue pushed into it
inside a stray quote ('"Very Large Data Bases%1996%%…"'): the loader puts those fields back.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kede.catalog import dedup
from kede.catalog.dedup import MatchRecord, candidate_pairs, cluster, match
from kede.catalog.normalise import year_of

GOLDSTD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goldstd"
PYJEDAI = GOLDSTD / "pyjedai"
DBLP_FILE = PYJEDAI / "data__ccer__D4__dblp.csv"
ACM_FILE = PYJEDAI / "data__ccer__D4__acm.csv"
GOLD_FILE = PYJEDAI / "data__ccer__D4__gt.csv"

_NAME_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}


def split_authors(text: str) -> tuple[str, ...]:
    """ "R. J. Bayardo, Jr., W. Bohrer" -> ("R. J. Bayardo, Jr.", "W. Bohrer"); "?" -> ()."""
    names: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part or part == "?":
            continue
        if part.casefold() in _NAME_SUFFIXES and names:
            names[-1] = f"{names[-1]}, {part}"
        else:
            names.append(part)
    return tuple(names)


def load_source(path: Path, prefix: str) -> list[MatchRecord]:
    """One DBLP–ACM file as MatchRecords with ids "<prefix>:<row>"."""
    records = []
    with path.open(encoding="utf-8") as handle:
        next(handle)  # header: id%title%authors%venue%year
        for line in handle:
            parts = line.rstrip("\n").split("%")
            if len(parts) != 5:
                # id%title%"venue%year%%title venue year"%% — the authors field is missing.
                parts = [parts[0], parts[1], "", parts[2].lstrip('"'), parts[3]]
            row, title, authors, venue, year = (html.unescape(p).strip() for p in parts)
            records.append(
                MatchRecord(
                    id=f"{prefix}:{int(row)}",
                    title=title,
                    authors=split_authors(authors),
                    year=year_of(year),
                    venue=venue,
                    format="article",
                    source=prefix,
                )
            )
    return records


def load_gold(path: Path) -> set[tuple[str, str]]:
    """True pairs as ("dblp:<row>", "acm:<row>")."""
    with path.open(encoding="utf-8") as handle:
        next(handle)  # D1%D2
        return {
            (f"dblp:{int(d1)}", f"acm:{int(d2)}")
            for d1, d2 in (line.strip().split("%") for line in handle if line.strip())
        }


@dataclass
class Quality:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def quality(predicted: set[tuple[str, str]], gold: set[tuple[str, str]]) -> Quality:
    tp = len(predicted & gold)
    fp = len(predicted) - tp
    fn = len(gold) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(round(precision, 4), round(recall, 4), round(f1, 4), tp, fp, fn)


def _cross(a: MatchRecord, b: MatchRecord) -> bool:
    return a.id.split(":")[0] != b.id.split(":")[0]


def _oriented(a: MatchRecord, b: MatchRecord) -> tuple[str, str]:
    return (a.id, b.id) if a.id.startswith("dblp:") else (b.id, a.id)


def _clear_caches() -> None:
    from kede.catalog import normalise

    for fn in (normalise.fold_text, normalise.author_key, normalise.edition_key):
        fn.cache_clear()
    normalise.volume_key.cache_clear()
    normalise.title_part.cache_clear()
    dedup.features.cache_clear()


def evaluate(max_block: int = 100, with_clusters: bool = True, repeat: int = 1) -> dict:
    """Load, block, match and score; every figure in one dict (internals kept under "_").
    Timings are the best of `repeat` runs, each from cold caches."""
    dblp = load_source(DBLP_FILE, "dblp")
    acm = load_source(ACM_FILE, "acm")
    gold = load_gold(GOLD_FILE)
    records = dblp + acm
    by_id = {r.id: r for r in records}

    best = (float("inf"), 0.0, 0.0)
    for _ in range(max(1, repeat)):
        _clear_caches()
        start = time.perf_counter()
        candidates = [
            _oriented(a, b) for a, b in candidate_pairs(records, max_block=max_block, keep=_cross)
        ]
        blocked = time.perf_counter()
        decisions = {pair: match(by_id[pair[0]], by_id[pair[1]]) for pair in candidates}
        matched = time.perf_counter()
        if matched - start < best[0]:
            best = (matched - start, blocked - start, matched - blocked)
    predicted = {pair for pair, d in decisions.items() if d.same}

    result = {
        "dataset": "DBLP-ACM (pyJedAI D4)",
        "records": {"dblp": len(dblp), "acm": len(acm)},
        "true_pairs": len(gold),
        "candidate_pairs": len(candidates),
        "cross_product": len(dblp) * len(acm),
        "blocking_recall": round(len(gold & set(candidates)) / len(gold), 4),
        "pairs": quality(predicted, gold).__dict__,
        "seconds": {"blocking": round(best[1], 3), "matching": round(best[2], 3)},
        "records_per_s": round(len(records) / best[0]),
        "max_block": max_block,
        "_": {"gold": gold, "predicted": predicted, "decisions": decisions, "by_id": by_id},
    }
    if with_clusters:
        elapsed = float("inf")
        for _ in range(max(1, repeat)):
            _clear_caches()
            start = time.perf_counter()
            groups = cluster(records, max_block=max_block, one_per_source=True)
            elapsed = min(elapsed, time.perf_counter() - start)
        clustered = {
            (d, a)
            for group in groups
            for d in group
            if d.startswith("dblp:")
            for a in group
            if a.startswith("acm:")
        }
        result["clusters"] = quality(clustered, gold).__dict__
        result["clusters"]["records_per_s"] = round(len(records) / elapsed)
    return result


def normaliser_cost(records: list[MatchRecord]) -> dict[str, float]:
    """µs per record for each normaliser, and for all match keys of a record (`features`),
    from cold caches: the DBLP–ACM strings are nearly all distinct, so this is the uncached
    cost."""
    from kede.catalog import normalise

    def per_record(fn) -> float:
        _clear_caches()
        start = time.perf_counter()
        for record in records:
            fn(record)
        return round((time.perf_counter() - start) / len(records) * 1e6, 1)

    return {
        "title_key": per_record(lambda r: normalise.title_key(r.title)),
        "author_key_all_authors": per_record(
            lambda r: [normalise.author_key(a) for a in r.authors]
        ),
        "year_of": per_record(lambda r: normalise.year_of(str(r.year))),
        "features": per_record(dedup.features),
    }


def _show(pair: tuple[str, str], internals: dict) -> str:
    by_id = internals["by_id"]
    decision = internals["decisions"].get(pair)
    lines = [f"  {decision.reason if decision else 'not a candidate (blocking)'}"]
    for rid in pair:
        r = by_id[rid]
        lines.append(f"    {rid}: {r.title} | {'; '.join(r.authors)} | {r.venue} | {r.year}")
    return "\n".join(lines)


def _marc_bench():
    """bench/dedup_marc.py as a module (the bench folder is not a package)."""
    path = Path(__file__).with_name("dedup_marc.py")
    spec = importlib.util.spec_from_file_location("dedup_marc", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def summary_line(result: dict) -> str:
    p, c = result["pairs"], result["clusters"]
    return (
        f"DBLP-ACM: pairs P {p['precision']:.4f} R {p['recall']:.4f} F1 {p['f1']:.4f} "
        f"(FP {p['false_positives']}, FN {p['false_negatives']}) | clusters P "
        f"{c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f} | "
        f"{result['records']['dblp'] + result['records']['acm']} records, "
        f"{result['true_pairs']} true pairs, {result['records_per_s']:,} records/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-block", type=int, default=100)
    parser.add_argument("--errors", type=int, default=0, help="list N false positives/negatives")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs (best is kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not GOLD_FILE.exists():
        print(f"gold standard not found: {GOLD_FILE}", file=sys.stderr)
        return 2
    result = evaluate(max_block=args.max_block, repeat=args.repeat)
    by_id = result["_"]["by_id"]
    result["normalise_us_per_record"] = normaliser_cost(list(by_id.values()))
    result["machine"] = {"python": platform.python_version(), "cpus": _cpus()}
    internals = result.pop("_")
    marc_bench = _marc_bench()
    marc = marc_internals = None
    if marc_bench.CORPUS.is_dir():
        marc = marc_bench.evaluate(max_block=args.max_block)
        marc_internals = marc.pop("_")
    if args.json:
        print(json.dumps({**result, "marc": marc}))
        return 0
    print(summary_line(result))
    print(marc_bench.summary_line(marc) if marc else f"MARC corpus not found: {marc_bench.CORPUS}")
    print()
    pairs = result["pairs"]
    print(f"{result['dataset']}: {result['records']['dblp']} + {result['records']['acm']} records")
    print(
        f"candidate pairs   {result['candidate_pairs']:,} of {result['cross_product']:,} "
        f"({result['candidate_pairs'] / result['cross_product']:.3%}), "
        f"blocking recall {result['blocking_recall']:.4f}"
    )
    print(
        f"matched pairs     precision {pairs['precision']:.4f}  recall {pairs['recall']:.4f}  "
        f"F1 {pairs['f1']:.4f}  (TP {pairs['true_positives']}, FP {pairs['false_positives']}, "
        f"FN {pairs['false_negatives']})"
    )
    if "clusters" in result:
        c = result["clusters"]
        print(
            f"cluster pairs     precision {c['precision']:.4f}  recall {c['recall']:.4f}  "
            f"F1 {c['f1']:.4f}  ({c['records_per_s']:,} records/s)"
        )
    print(
        f"time              blocking {result['seconds']['blocking']} s, matching "
        f"{result['seconds']['matching']} s, {result['records_per_s']:,} records/s "
        f"(one core; Python {result['machine']['python']}, {result['machine']['cpus']} CPUs)"
    )
    costs = result["normalise_us_per_record"]
    print("µs per record     " + ", ".join(f"{name} {value}" for name, value in costs.items()))
    if args.errors:
        gold, predicted = internals["gold"], internals["predicted"]
        false_pos = sorted(predicted - gold, key=lambda p: -internals["decisions"][p].score)
        false_neg = sorted(gold - predicted)
        print(f"\nfalse positives ({len(false_pos)}):")
        for pair in false_pos[: args.errors]:
            print(_show(pair, internals))
        print(f"\nfalse negatives ({len(false_neg)}):")
        for pair in false_neg[: args.errors]:
            print(_show(pair, internals))
        if marc:
            marc_bench.show_errors({**marc, "_": marc_internals}, args.errors)
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
