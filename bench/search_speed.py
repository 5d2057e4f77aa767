"""How fast catalogue search is: indexing rate and top-20 query latency on synthetic titles.

    .venv/bin/python bench/search_speed.py [--n 1000000] [--queries 2000] [--pg] [--json]

Builds `--n` synthetic works (default 1,000,000): titles of 2–12 words drawn from a 60,000-word
vocabulary with a Zipf distribution (s = 1.1, as word frequencies in titles go), 15 % of them
Chinese (words of 2–4 characters from 600 common characters, also Zipf; a third of those written
in traditional characters), with authors, subjects, a year, format, language and 1–40 holders
in 12 regions. Indexes them with `TantivyEngine` (in a temporary directory unless
`--index-dir`) and, with `--pg`, `PostgresEngine` (in a throw-away schema of the database at
`--pg-url`, default $KEDE_TEST_POSTGRES_URL; RUM when the extension is there unless `--gin`).

Queries are taken from the documents themselves so that they match: one word, two words, three
words, a quoted two-word phrase, a Chinese word (searched in simplified characters), and a
one-word query with a region filter and format/decade/region facets. Each is run through the
engine's whole path (`engine.search(Query(...))`: parsing, analysis, search, ids), one at a
time after a warm-up, and latency p50/p95/p99 (ms) and throughput (queries/s, one thread;
Tantivy also with `--threads`) are printed per kind and overall.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kede.catalog.search import Filters, Query, SearchDoc
from kede.catalog.search.tantivy_engine import TantivyEngine

COMMON_HANZI = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着"
    "事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定"
    "见只主没公从知民工现但高已动新理长问两意正明实力样体点全开她文教本方向手政关变各重被机制思史"
    "社会研究论集学报丛书出版研究所历代文学艺术经济管理科学技术发展中国古代近代现代世界通史概论基础"
    "教程导论原理方法应用实践问题分析比较传统文化思想哲学宗教语言文字词典辞典地方志民族地理城市乡村"
    "农业工业商业金融财政法律政治外交军事教育心理医学药学生物化学物理数学天文地质环境能源交通建筑"
    "美术音乐戏剧电影诗歌小说散文选集全集文集丛刊资料汇编年鉴目录索引研究报告调查记录回忆日记书信"
    "人物传记家族礼俗节日饮食服饰园林陶瓷书法绘画雕塑考古碑刻简帛敦煌丝路长江黄河江南岭南西域北方"
    "上海北京广州四川湖北湖南浙江江苏福建山东河南陕西云南贵州新疆西藏蒙古东北台湾香港澳门日本朝鲜"
    "俄罗斯欧洲美洲非洲亚洲英国法国德国印度阿拉伯清明宋元唐汉秦周魏晋隋辽金夏商春秋战国三国红楼梦"
)
REGIONS = [f"R{n:02d}" for n in range(12)]
INSTITUTIONS = [(f"I{n:03d}", REGIONS[n % 12]) for n in range(120)]
FORMATS = ["book"] * 8 + ["serial", "e-resource", "score", "map", "video"]
LANGUAGES = ["eng"] * 6 + ["chi"] * 3 + ["jpn", "rus", "ger", "fre", "ara", "kor"]
KINDS = ["1 word", "2 words", "3 words", "phrase", "CJK", "facets+filter"]


class Zipf:
    """Draws from `items` with P(rank k) proportional to 1 / k**s."""

    def __init__(self, items: list[str], s: float, rng: random.Random) -> None:
        self.items = items
        self.rng = rng
        weights = [1 / (k**s) for k in range(1, len(items) + 1)]
        self.cum = list(itertools.accumulate(weights))

    def draw(self) -> str:
        return self.items[bisect.bisect(self.cum, self.rng.random() * self.cum[-1])]


def pseudo_words(n: int, rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    words: dict[str, None] = {}
    while len(words) < n:
        words["".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))] = None
    return list(words)


def corpus(n: int, seed: int) -> Iterator[SearchDoc]:
    """The same `n` works for the same seed."""
    import opencc

    rng = random.Random(seed)
    latin = Zipf(pseudo_words(60_000, rng), 1.1, rng)
    hanzi = Zipf(list(dict.fromkeys(COMMON_HANZI)), 1.0, rng)
    cjk_words = Zipf(
        ["".join(hanzi.draw() for _ in range(rng.choice((2, 2, 3, 4)))) for _ in range(20_000)],
        1.1,
        rng,
    )
    names = Zipf(pseudo_words(8_000, random.Random(seed + 1)), 1.0, rng)
    to_traditional = opencc.OpenCC("s2t")
    for work_id in range(1, n + 1):
        if rng.random() < 0.15:
            title = "".join(cjk_words.draw() for _ in range(rng.randint(2, 5)))
            if rng.random() < 0.33:
                title = to_traditional.convert(title)
            language = "chi"
        else:
            title = " ".join(latin.draw() for _ in range(rng.randint(2, 12))).capitalize()
            language = rng.choice(LANGUAGES)
        holders = rng.sample(INSTITUTIONS, min(len(INSTITUTIONS), int(rng.paretovariate(1.2))))
        yield SearchDoc(
            work_id,
            title,
            authors=[f"{names.draw().capitalize()}, {names.draw().capitalize()}"],
            subjects=[" ".join(latin.draw() for _ in range(2)) for _ in range(rng.randint(0, 3))],
            publisher=names.draw().capitalize() + " Press",
            year=rng.randint(1900, 2025) if rng.random() < 0.95 else None,
            format=rng.choice(FORMATS),
            language=language,
            holders=[code for code, _ in holders],
            regions=sorted({region for _, region in holders}),
        )


def make_queries(n: int, count: int, seed: int) -> list[tuple[str, Query]]:
    """`count` queries taken from the corpus's own titles, kinds in turn."""
    import opencc

    to_simplified = opencc.OpenCC("t2s")
    rng = random.Random(seed + 7)
    wanted = set(rng.sample(range(1, n + 1), min(n, count * 3)))
    latin: list[list[str]] = []
    cjk: list[str] = []
    for doc in corpus(n, seed):
        if doc.work_id in wanted:
            if doc.language == "chi":
                cjk.append(to_simplified.convert(doc.title))
            else:
                latin.append(doc.title.lower().split())
    queries: list[tuple[str, Query]] = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        words = rng.choice(latin)
        start = rng.randrange(max(1, len(words) - 2))
        if kind == "1 word":
            text = words[start]
        elif kind == "2 words":
            text = " ".join(words[start : start + 2])
        elif kind == "3 words":
            text = " ".join(words[start : start + 3])
        elif kind == "phrase":
            text = '"' + " ".join(words[start : start + 2]) + '"'
        elif kind == "CJK":
            title = rng.choice(cjk)
            at = rng.randrange(max(1, len(title) - 3))
            text = title[at : at + rng.choice((2, 3, 4))]
        else:
            queries.append(
                (
                    kind,
                    Query(
                        words[start],
                        filters=Filters(regions=(rng.choice(REGIONS),)),
                        facets=("format", "decade", "regions"),
                    ),
                )
            )
            continue
        queries.append((kind, Query(text)))
    return queries


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


def measure(engine, queries: list[tuple[str, Query]]) -> dict[str, dict[str, float]]:
    for _, query in queries[: min(200, len(queries))]:  # warm caches
        engine.search(query)
    by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    hits = 0
    started = time.perf_counter()
    for kind, query in queries:
        t0 = time.perf_counter()
        results = engine.search(query)
        by_kind[kind].append((time.perf_counter() - t0) * 1000)
        hits += bool(results.hits)
    wall = time.perf_counter() - started
    out: dict[str, dict[str, float]] = {}
    for kind, times in [*by_kind.items(), ("all", [t for ts in by_kind.values() for t in ts])]:
        if not times:
            continue
        times.sort()
        out[kind] = {
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "p99": percentile(times, 99),
            "mean": statistics.fmean(times),
        }
    out["all"]["qps"] = len(queries) / wall
    out["all"]["found"] = hits / len(queries)
    return out


def threaded_qps(engine, queries: list[tuple[str, Query]], threads: int) -> float:
    chunks = [queries[i::threads] for i in range(threads)]

    def run(chunk: list[tuple[str, Query]]) -> None:
        for _, query in chunk:
            engine.search(query)

    workers = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return len(queries) / (time.perf_counter() - started)


def report(name: str, figures: dict) -> None:
    print(f"\n{name}")
    print(
        f"  indexing: {figures['docs_per_s']:,.0f} docs/s ({figures['index_s']:.1f} s with "
        f"generation; {figures['docs_per_s_net']:,.0f} docs/s without)"
    )
    print("  query            p50 ms   p95 ms   p99 ms")
    for kind, f in figures["latency"].items():
        print(f"  {kind:<15} {f['p50']:7.2f}  {f['p95']:7.2f}  {f['p99']:7.2f}")
    latency = figures["latency"]["all"]
    print(f"  throughput: {latency['qps']:,.0f} queries/s on one thread", end="")
    if "qps_threads" in figures:
        print(f", {figures['qps_threads']:,.0f} on {figures['threads']} threads", end="")
    print(f"; {latency['found'] * 100:.0f} % of queries found something")


def bench_tantivy(args, queries) -> dict:
    with tempfile.TemporaryDirectory(prefix="kede-search-bench-") as tmp:
        engine = TantivyEngine(args.index_dir or Path(tmp) / "index", heap_size=512_000_000)
        index_s = float("nan")
        if not (args.index_dir and engine.count() == args.n):  # a kept index is reused
            engine.clear()
            engine.commit()
            t0 = time.perf_counter()
            engine.index(corpus(args.n, args.seed))
            engine.commit()
            index_s = time.perf_counter() - t0
        engine.close()
        figures = {
            "index_s": index_s,
            "docs_per_s": args.n / index_s,
            "docs_per_s_net": args.n / max(index_s - args.generate_s, 1e-9),
            "count": engine.count(),
        }
        figures["latency"] = measure(engine, queries)
        if args.threads > 1:
            figures["threads"] = args.threads
            figures["qps_threads"] = threaded_qps(engine, queries, args.threads)
        return figures


def bench_postgres(args, queries) -> dict:
    import psycopg

    from kede.catalog.search.pg_engine import PostgresEngine

    conn = psycopg.connect(args.pg_url, autocommit=True)
    schema = args.pg_schema or f"kede_search_bench_{uuid.uuid4().hex[:8]}"
    try:
        engine = PostgresEngine(conn, schema=schema, table="works")
        engine.ensure_schema(use_rum=False if args.gin else None)
        index_s = float("nan")
        if not args.pg_schema:
            t0 = time.perf_counter()
            engine.index(corpus(args.n, args.seed))
            conn.execute(f'ANALYZE "{schema}".works')
            index_s = time.perf_counter() - t0
        figures = {
            "index_s": index_s,
            "docs_per_s": args.n / index_s,
            "docs_per_s_net": args.n / max(index_s - args.generate_s, 1e-9),
            "count": engine.count(),
            "text_index": "RUM" if engine.uses_rum else "GIN",
        }
        figures["latency"] = measure(engine, queries)
        return figures
    finally:
        if not (args.keep_pg or args.pg_schema):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        else:
            print(f"(PostgreSQL schema kept: {schema})")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="works to index")
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4, help="Tantivy throughput threads")
    parser.add_argument(
        "--index-dir", type=Path, help="keep the Tantivy index here (reused if it has --n works)"
    )
    parser.add_argument("--no-tantivy", action="store_true")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL")
    parser.add_argument("--gin", action="store_true", help="PostgreSQL with GIN even if RUM")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("KEDE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--keep-pg", action="store_true", help="keep the benchmark schema")
    parser.add_argument("--pg-schema", help="search this kept schema instead of building one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    print(
        f"{args.n:,} works, {args.queries:,} queries, {platform.processor() or platform.machine()}"
    )
    t0 = time.perf_counter()
    queries = make_queries(args.n, args.queries, args.seed)
    args.generate_s = time.perf_counter() - t0
    print(f"generating the corpus alone takes {args.generate_s:.1f} s (included below)")
    results: dict[str, dict] = {}
    if not args.no_tantivy:
        results["tantivy"] = bench_tantivy(args, queries)
        report("Tantivy", results["tantivy"])
    if args.pg:
        results["postgres"] = bench_postgres(args, queries)
        report(f"PostgreSQL ({results['postgres']['text_index']})", results["postgres"])
    if args.json:
        print(json.dumps({"n": args.n, "queries": args.queries, **results}, indent=2))


if __name__ == "__main__":
    main()
