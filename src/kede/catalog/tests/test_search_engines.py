"""The search contract, run on every engine: Tantivy, PostgreSQL with a GIN index, and
PostgreSQL with RUM (top-k path forced) when the extension is available.

The corpus is a handful of hand-made works (ids below 100) whose ranks and filters the tests
assert, plus real records from the shared MARC samples beside the checkout (Pride and
Prejudice in many languages and editions, LC's CJK/Arabic/Hebrew test records), when present.
PostgreSQL tests skip when the server cannot be reached (KEDE_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pymarc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kede.catalog.normalise import year_of
from kede.catalog.search import (
    Filters,
    IndexLocked,
    Query,
    Results,
    SearchDoc,
    SearchEngine,
    SearchError,
    open_engine,
)
from kede.catalog.search.analysis import PhraseClause, TermClause, document_tokens
from kede.catalog.search.pg_engine import PostgresEngine
from kede.catalog.search.tantivy_engine import TantivyEngine

PG_URL = os.environ.get("KEDE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SHARED_MARC = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "marc"
MARC_FILES = [
    SHARED_MARC / "marc4j" / "test__resources__pride-and-prejudice-fixed.mrc",
    SHARED_MARC / "blacklight-marc" / "test_support__data__test_data.utf8.mrc",
]
ENGINES = ["tantivy", "postgres-gin", "postgres-rum"]
INSTITUTIONS = {"PKU": "BJ", "THU": "BJ", "FDU": "SH", "SJTU": "SH", "SCU": "SC", "WHU": "HB"}

HANDMADE = [
    SearchDoc(
        1,
        "War and peace",
        authors=["Tolstoy, Leo, 1828-1910"],
        subjects=["Napoleonic Wars, 1800-1815 -- Fiction"],
        publisher="Penguin",
        identifiers=["isbn:9780306406157"],
        year=1869,
        format="book",
        language="eng",
        holders=["PKU", "FDU", "SCU"],
        regions=["BJ", "SH", "SC"],
    ),
    SearchDoc(
        2,
        "War and peace in the Middle East",
        year=1990,
        format="book",
        language="eng",
        holders=["PKU"],
        regions=["BJ"],
    ),
    SearchDoc(
        3,
        "Peace studies",
        authors=["War, John"],
        year=2001,
        format="serial",
        language="eng",
        holders=["THU", "WHU"],
        regions=["BJ", "HB"],
        identifiers=["issn:0378-5955"],
    ),
    SearchDoc(
        4,
        "傲慢與偏見",
        alt_titles=["Ao man yu pian jian"],
        authors=["奧斯汀"],
        year=1995,
        format="book",
        language="chi",
        holders=["SCU"],
        regions=["SC"],
    ),
    SearchDoc(5, "北京大学学报", year=2010, format="serial", language="chi", holders=["PKU"]),
    SearchDoc(6, "久保栄「火山灰地」を読む", year=1997, format="book", language="jpn"),
    SearchDoc(7, "아직도 그럭 저럭 사십니까", year=1990, format="book", language="kor"),
    SearchDoc(8, "Война и мир", authors=["Толстой, Лев"], year=1978, language="rus"),
    SearchDoc(9, "الحرب في الألفية الثالثة", year=2003, language="ara"),
    SearchDoc(10, "L'Éducation sentimentale", authors=["Flaubert, Gustave"], language="fre"),
    SearchDoc(11, "ＰＹＴＨＯＮ入門", year=2019, format="e-resource", language="jpn"),
    SearchDoc(12, "Peace", year=2020, format="book", language="eng", holders=["FDU"]),
]


# --- corpus -----------------------------------------------------------------------------------


def _sub(record: pymarc.Record, tag: str, codes: str) -> str:
    field = record.get(tag)
    if field is None or field.is_control_field():
        return ""
    return " ".join(field.get_subfields(*codes)).strip(" /:;,.=")


def marc_docs() -> list[SearchDoc]:
    docs: list[SearchDoc] = []
    institutions = sorted(INSTITUTIONS)
    for path in MARC_FILES:
        if not path.is_file():
            continue
        with path.open("rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = pymarc.MARCReader(fh, to_unicode=True, force_utf8=True, permissive=True)
            for record in reader:
                if record is None or not _sub(record, "245", "ab"):
                    continue
                work_id = 1000 + len(docs)
                fixed = record.get("008")
                data = fixed.data if fixed is not None and fixed.data else ""
                holders = [institutions[(work_id + k * 7) % 6] for k in range(work_id % 4)]
                docs.append(
                    SearchDoc(
                        work_id,
                        _sub(record, "245", "ab"),
                        alt_titles=[
                            " ".join(f.get_subfields("a", "b"))
                            for f in record.get_fields("880")
                            if any(s.startswith("245") for s in f.get_subfields("6"))
                        ],
                        authors=[_sub(record, "100", "abcd")],
                        publisher=_sub(record, "260", "b") or _sub(record, "264", "b"),
                        subjects=[" ".join(f.get_subfields("a")) for f in record.get_fields("650")],
                        identifiers=[
                            f"isbn:{a}"
                            for f in record.get_fields("020")
                            for a in f.get_subfields("a")
                        ],
                        year=year_of(data[7:11]) if len(data) > 11 else None,
                        format="serial" if str(record.leader)[7:8] == "s" else "book",
                        language=data[35:38].strip(" |") if len(data) >= 38 else "",
                        holders=sorted(set(holders)),
                        regions=sorted({INSTITUTIONS[h] for h in holders}),
                    )
                )
    return docs


CORPUS = HANDMADE + marc_docs()
BY_ID = {doc.work_id: doc for doc in CORPUS}
needs_marc = pytest.mark.skipif(
    len(CORPUS) == len(HANDMADE), reason="the shared MARC samples are not beside this checkout"
)


# --- engines ----------------------------------------------------------------------------------


def _connect():
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {exc}")


def _make(kind: str, path: Path) -> Iterator[SearchEngine]:
    if kind == "tantivy":
        engine = TantivyEngine(path, heap_size=50_000_000)
        yield engine
        engine.close()
        return
    conn = _connect()
    schema = f"kede_search_test_{uuid.uuid4().hex[:12]}"
    engine = PostgresEngine(conn, schema=schema, table="works")
    try:
        if kind == "postgres-rum":
            engine.ensure_schema(use_rum=True)
            if not engine.uses_rum:
                pytest.skip("the rum extension is not available (Debian: postgresql-15-rum)")
            engine.exact_rank_limit = 0  # always take RUM's top-k path
            engine.rum_candidates = 200
        else:
            engine.ensure_schema(use_rum=False)
            assert engine.uses_rum is False
        yield engine
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


@pytest.fixture(scope="module", params=ENGINES)
def loaded(request, tmp_path_factory) -> Iterator[SearchEngine]:
    """An engine holding the whole corpus; tests must not change it."""
    for engine in _make(request.param, tmp_path_factory.mktemp("index")):
        engine.index(CORPUS)
        engine.commit()
        yield engine


@pytest.fixture(params=ENGINES)
def fresh(request, tmp_path) -> Iterator[SearchEngine]:
    """An engine holding the hand-made works only, for tests that write."""
    for engine in _make(request.param, tmp_path / "index"):
        engine.index(HANDMADE)
        engine.commit()
        yield engine


def ids(results: Results) -> list[int]:
    return [hit.work_id for hit in results.hits]


def search(engine: SearchEngine, text: str = "", **kwargs) -> Results:
    kwargs.setdefault("limit", 100)
    return engine.search(Query(text, **kwargs))


# --- the contract -----------------------------------------------------------------------------


def test_open_engine_by_name(tmp_path):
    assert isinstance(open_engine("tantivy", path=tmp_path / "index"), TantivyEngine)
    with pytest.raises(SearchError, match="unknown search engine 'solr'"):
        open_engine("solr")
    with pytest.raises(SearchError, match="needs a database connection"):
        open_engine("postgres")


def test_engines_implement_the_protocol(loaded):
    assert isinstance(loaded, SearchEngine)
    assert loaded.count() == len(CORPUS)


def test_exact_title_ranks_above_longer_title(loaded):
    # when
    results = search(loaded, "war and peace")
    # then: "Peace studies" by "War, John" lacks "and"
    assert ids(results)[:2] == [1, 2]
    assert results.hits[0].score > results.hits[1].score > 0


def test_title_match_ranks_above_author_match(loaded):
    # when
    results = search(loaded, "war", filters=Filters(formats=("book", "serial")))
    # then
    assert set(ids(results)[:2]) == {1, 2}
    assert 3 in ids(results)
    assert ids(results).index(3) > ids(results).index(2)


def test_short_title_ranks_first_for_single_word(loaded):
    assert ids(search(loaded, "peace", filters=Filters(year_from=1800)))[0] == 12


def test_simplified_query_finds_traditional_title(loaded):
    # when
    simplified = set(ids(search(loaded, "傲慢与偏见")))
    traditional = set(ids(search(loaded, "傲慢與偏見")))
    # then
    assert 4 in simplified
    assert simplified == traditional


@needs_marc
def test_real_records_in_both_scripts_are_found(loaded):
    # given: the Pride and Prejudice file has Chinese editions catalogued in both scripts
    expected = {
        doc.work_id
        for doc in CORPUS
        if any(t.startswith(("傲慢与偏见", "傲慢與偏見")) for t in doc.alt_titles)
    }
    assert len(expected) >= 5
    # when
    found = set(ids(search(loaded, "傲慢与偏见")))
    # then: and the romanised title finds the same records
    assert expected <= found
    assert expected <= set(ids(search(loaded, "ao man yu pian jian")))


@needs_marc
def test_real_marc_isbn10_finds_record(loaded):
    # given: 020 $a "957331293X (pbk.) :" on a Taiwanese edition
    # when
    by_10 = ids(search(loaded, "957331293X"))
    by_13 = ids(search(loaded, "isbn:978-957-331-293-2"))
    # then
    assert by_10 == by_13
    assert len(by_10) == 1
    assert "理性與感性" in BY_ID[by_10[0]].alt_titles[0]


def test_single_character_query(loaded):
    assert 4 in ids(search(loaded, "偏"))
    assert 4 in ids(search(loaded, "見"))


@pytest.mark.parametrize(
    ("text", "work_id"),
    [
        ("火山灰地", 6),
        ("を読む", 6),
        ("그럭 저럭", 7),
        ("война", 8),
        ("ВОЙНА И МИР", 8),
        ("толстой", 8),
        ("الالفيه", 9),
        ("education sentimentale", 10),
        ("l'éducation", 10),
        ("python入门", 11),
        ("Ｐｙｔｈｏｎ", 11),
        ("北京大学", 5),
    ],
)
def test_scripts_and_folding(loaded, text, work_id):
    assert work_id in ids(search(loaded, text))


def test_isbn10_query_finds_isbn13_record(loaded):
    assert ids(search(loaded, "0-306-40615-2")) == [1]
    assert ids(search(loaded, "isbn:0306406152 peace")) == [1]
    assert ids(search(loaded, "0378-5955")) == [3]


def test_phrase_needs_order_and_adjacency(loaded):
    assert 1 in ids(search(loaded, "peace war"))
    assert 1 not in ids(search(loaded, '"peace war"'))
    assert ids(search(loaded, '"war and peace"'))[:2] == [1, 2]


def test_field_prefixes(loaded):
    assert ids(search(loaded, "author:war")) == [3]
    assert 3 not in ids(search(loaded, "title:war"))
    assert ids(search(loaded, "author:tolstoy")) == [1]
    assert ids(search(loaded, "subject:napoleonic")) == [1]


def test_problems_are_reported_not_raised(loaded):
    # when
    unbalanced = search(loaded, '"war and peace')
    bad_isbn = search(loaded, "isbn:123 war")
    # then
    assert ids(unbalanced)[:2] == [1, 2]
    assert "never closed" in unbalanced.problems[0]
    assert bad_isbn.total == 0
    assert bad_isbn.problems == ("“123” is not a valid ISBN.",)


def test_filters(loaded):
    # format, language, year range, holders, regions; alternatives within a filter
    def matching(**filters) -> set[int]:
        return set(ids(search(loaded, "war", filters=Filters(**filters))))

    assert matching() == _ids_matching("war")
    assert matching(formats=("serial",)) == {3}
    assert matching(languages=("eng",), year_from=1900, year_to=1995) == {2}
    assert matching(held_by=("FDU",)) & {1, 2, 3} == {1}
    assert matching(held_by=("FDU", "THU")) & {1, 2, 3} == {1, 3}
    assert matching(regions=("BJ",)) & {1, 2, 3} == {1, 2, 3}
    assert matching(regions=("HB",), formats=("book",)) & {1, 2, 3} == set()


def _ids_matching(word: str) -> set[int]:
    """The works with `word` in any text field, worked out without an engine."""
    found = set()
    for doc in CORPUS:
        for values in ([doc.title, *doc.alt_titles], doc.authors, doc.subjects, [doc.publisher]):
            if any(t.text == word for t in document_tokens(values)):
                found.add(doc.work_id)
    return found


def _expected_facets(docs: list[SearchDoc], limit: int) -> dict[str, list[tuple[str, int]]]:
    counters: dict[str, Counter[str]] = {name: Counter() for name in ("format", "language")}
    counters |= {"decade": Counter(), "holders": Counter(), "regions": Counter()}
    for doc in docs:
        if doc.format:
            counters["format"][doc.format] += 1
        if doc.language:
            counters["language"][doc.language] += 1
        if doc.year is not None:
            counters["decade"][str(doc.year // 10 * 10)] += 1
        counters["holders"].update(set(doc.holders))
        counters["regions"].update(set(doc.regions))
    return {
        name: sorted(counter.items(), key=lambda vc: (-vc[1], vc[0]))[:limit]
        for name, counter in counters.items()
    }


FACETS = ("format", "language", "decade", "holders", "regions")


def test_facet_counts_over_everything(loaded):
    # when
    results = search(loaded, facets=FACETS, facet_limit=500, limit=0)
    # then
    assert results.total == len(CORPUS)
    assert results.hits == []
    assert results.facets == _expected_facets(CORPUS, 500)
    assert results.facets_exact


def test_facet_counts_follow_query_and_filters(loaded):
    # given
    expected = [BY_ID[i] for i in sorted(_ids_matching("peace")) if BY_ID[i].language == "eng"]
    assert len(expected) >= 4
    # when
    results = search(loaded, "peace", facets=FACETS, filters=Filters(languages=("eng",)))
    # then
    assert sorted(ids(results)) == [doc.work_id for doc in expected]
    assert results.facets == _expected_facets(expected, 20)
    # and facet_limit cuts each list
    short = search(loaded, facets=("language",), facet_limit=2)
    assert short.facets["language"] == _expected_facets(CORPUS, 2)["language"]


def test_empty_query_lists_everything_most_held_first(loaded):
    # when
    results = search(loaded, limit=50)
    # then
    assert results.total == len(CORPUS)
    counts = [BY_ID[i].holders_total for i in ids(results)]
    assert counts == sorted(counts, reverse=True)
    assert all(hit.score == 0.0 for hit in results.hits)


def test_empty_query_with_filter(loaded):
    results = search(loaded, filters=Filters(held_by=("SCU",)))
    assert set(ids(results)) == {d.work_id for d in CORPUS if "SCU" in d.holders}


def test_query_of_only_punctuation_is_empty_query(loaded):
    assert search(loaded, " ,;/ ").total == len(CORPUS)


def test_sort_by_year_newest_first_undated_last(loaded):
    # when
    results = search(loaded, limit=1000, sort="year")
    # then
    years = [BY_ID[i].year for i in ids(results)]
    dated = [y for y in years if y is not None]
    assert dated == sorted(dated, reverse=True)
    assert years[: len(dated)] == dated


def test_pagination(loaded):
    # given
    whole = ids(search(loaded, "the", limit=1000))
    assert len(whole) > 25
    # when
    pages = [ids(search(loaded, "the", limit=10, offset=o)) for o in range(0, len(whole) + 10, 10)]
    # then
    assert [i for page in pages for i in page] == whole
    assert search(loaded, "the", limit=10, offset=len(whole) + 5).hits == []
    assert search(loaded, "the", limit=10, offset=len(whole) + 5).total == len(whole)


def test_highlighted_titles(loaded):
    # when
    results = loaded.search(Query("傲慢与偏见", highlight=True, limit=100))
    # then
    html = {hit.work_id: hit.title_html for hit in results.hits}
    assert html[4] == "<mark>傲慢與偏見</mark>"
    assert loaded.search(Query("war")).hits[0].title_html is None


def test_upsert_replaces(fresh):
    # when
    fresh.index([SearchDoc(2, "Conflict in the Levant", year=1991)])
    fresh.commit()
    # then
    assert 2 not in ids(search(fresh, "war"))
    assert ids(search(fresh, "levant")) == [2]
    assert fresh.count() == len(HANDMADE)


def test_upsert_twice_in_one_batch_keeps_the_last(fresh):
    fresh.index([SearchDoc(50, "First draft"), SearchDoc(50, "Final text")])
    fresh.commit()
    assert ids(search(fresh, "draft")) == []
    assert ids(search(fresh, "final")) == [50]


def test_delete_removes(fresh):
    # when
    fresh.delete([1, 999])
    fresh.commit()
    # then
    assert 1 not in ids(search(fresh, "war"))
    assert search(fresh, "0306406152").total == 0
    assert fresh.count() == len(HANDMADE) - 1


def test_clear(fresh):
    fresh.clear()
    fresh.commit()
    assert fresh.count() == 0
    assert search(fresh, facets=("format",)).facets == {"format": []}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.text(
            alphabet=st.sampled_from("\"“:：title author isbn: 0-3X 書中 war'-*()\\\x00"),
            max_size=40,
        ),
    ),
    year_from=st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    held=st.lists(st.text(max_size=5), max_size=3),
    sort=st.sampled_from(["relevance", "year"]),
    offset=st.integers(0, 50),
)
def test_weird_input_never_crashes(loaded, text, year_from, held, sort, offset):
    # when
    results = loaded.search(
        Query(
            text,
            filters=Filters(year_from=year_from, held_by=tuple(held)),
            facets=("decade", "holders"),
            sort=sort,
            offset=offset,
            highlight=True,
        )
    )
    # then
    assert results.total >= len(results.hits)
    assert len(results.hits) <= 20


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(title=st.text(min_size=1, max_size=120))
def test_any_title_is_indexed_and_found_by_itself(fresh, title):
    # when
    fresh.index([SearchDoc(500, title, authors=[title], holders=[title[:5]])])
    fresh.commit()
    results = fresh.search(Query(title, limit=1000))
    # then: unless the title reads as query syntax (a field, an identifier) or quotes cut a
    # word the document side reads whole (mojibake repair of "É“")
    parsed = Query(title).parsed()
    plain = all(
        isinstance(c, TermClause | PhraseClause) and c.field is None for c in parsed.clauses
    )
    words = {t.text for t in document_tokens([title])}
    if parsed.clauses and plain and not parsed.unsatisfiable and parsed.highlight_terms <= words:
        assert 500 in ids(results), (title, parsed)


def test_broken_text_is_cleaned_not_refused(fresh):
    # given: a NUL and a lone surrogate, as a bad character-set conversion leaves them
    doc = SearchDoc(501, "Broken\x00 title \ud800 here", holders=["P\x00KU"], format="bo\x00ok")
    # when
    fresh.index([doc])
    fresh.commit()
    # then
    results = fresh.search(Query("broken here", highlight=True, facets=("holders",)))
    assert ids(results) == [501]
    assert results.hits[0].title_html == "<mark>Broken</mark> title ? <mark>here</mark>"
    assert results.facets["holders"] == [("PKU", 1)]


# --- the engines agree ------------------------------------------------------------------------


AGREEMENT_QUERIES = [
    "war",
    "peace",
    "pride prejudice",
    '"pride and prejudice"',
    "傲慢与偏见",
    "理智",
    "austen jane",
    "author:austen",
    "title:emma",
    "1813",
    "orgueil",
    "stolz vorurteil",
]


def test_tantivy_and_postgres_match_the_same_works(tmp_path):
    # given
    conn = _connect()
    schema = f"kede_search_test_{uuid.uuid4().hex[:12]}"
    pg = PostgresEngine(conn, schema=schema, table="works")
    tantivy = TantivyEngine(tmp_path / "index")
    try:
        pg.ensure_schema()
        for engine in (pg, tantivy):
            engine.index(CORPUS)
            engine.commit()
        for text in AGREEMENT_QUERIES:
            # when
            a = tantivy.search(Query(text, limit=1000))
            b = pg.search(Query(text, limit=1000))
            # then
            assert a.total == b.total, text
            assert set(ids(a)) == set(ids(b)), text
    finally:
        tantivy.close()
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


# --- engine-specific --------------------------------------------------------------------------


def test_tantivy_index_persists_and_has_one_writer(tmp_path):
    # given
    first = TantivyEngine(tmp_path / "index")
    first.index(HANDMADE)
    first.commit()
    # when: a second process-like handle opens the same directory
    second = TantivyEngine(tmp_path / "index")
    # then: it reads what was committed, but cannot write while the first holds the lock
    assert second.count() == len(HANDMADE)
    with pytest.raises(IndexLocked):
        second.index([SearchDoc(99, "x")])
    first.close()
    second.index([SearchDoc(99, "Late arrival")])
    second.commit()
    second.close()
    assert ids(TantivyEngine(tmp_path / "index").search(Query("arrival"))) == [99]


def test_tantivy_reader_opened_earlier_sees_a_later_commit(tmp_path):
    # given: a web process's handle, opened before the worker writes
    reader = TantivyEngine(tmp_path / "index")
    writer = TantivyEngine(tmp_path / "index")
    # when
    writer.index([SearchDoc(1, "Fresh arrival")])
    writer.commit()
    # then: it reloads by itself, shortly after
    deadline = time.monotonic() + 10
    while reader.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ids(reader.search(Query("arrival"))) == [1]
    writer.close()


def test_tantivy_uncommitted_writes_are_invisible_and_dropped_on_close(tmp_path):
    engine = TantivyEngine(tmp_path / "index")
    engine.index(HANDMADE)
    assert engine.count() == 0
    engine.close()
    assert TantivyEngine(tmp_path / "index").count() == 0


def test_tantivy_readers_search_while_the_writer_commits(tmp_path):
    # given
    engine = TantivyEngine(tmp_path / "index")
    engine.index(HANDMADE)
    engine.commit()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert 1 in ids(engine.search(Query("war")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    # when
    for n in range(20):
        engine.index([SearchDoc(100 + n, f"Peace treaty {n}")])
        engine.commit()
    stop.set()
    for t in threads:
        t.join()
    # then
    assert errors == []
    assert search(engine, "treaty").total == 20


def test_postgres_schema_is_idempotent_and_detects_its_index():
    conn = _connect()
    schema = f"kede_search_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = PostgresEngine(conn, schema=schema, table="works")
        engine.ensure_schema(use_rum=False)
        engine.index(HANDMADE)
        # when: run again, even asking for RUM
        engine.ensure_schema()
        # then: the table and its GIN index are kept
        assert engine.count() == len(HANDMADE)
        assert engine.uses_rum is False
        assert PostgresEngine(conn, schema=schema, table="works").search(Query("war")).total == 3
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def test_postgres_outside_autocommit_commits_on_commit():
    # given: a connection in a transaction, as psycopg opens them by default
    conn = _connect()
    conn.autocommit = False
    other = _connect()
    schema = f"kede_search_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = PostgresEngine(conn, schema=schema, table="works")
        engine.ensure_schema()
        engine.commit()
        engine.index(HANDMADE)
        reader = PostgresEngine(other, schema=schema, table="works")
        assert reader.count() == 0
        # when
        engine.commit()
        # then
        assert reader.count() == len(HANDMADE)
    finally:
        conn.rollback()
        conn.autocommit = True
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
        other.close()


def test_postgres_counts_are_capped_when_asked():
    conn = _connect()
    schema = f"kede_search_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = PostgresEngine(conn, schema=schema, table="works", count_limit=5)
        engine.ensure_schema()
        engine.index(HANDMADE)
        # when
        results = engine.search(Query(facets=("format",)))
        # then
        assert (results.total_exact, results.facets_exact) == (False, False)
        assert len(results.hits) == len(HANDMADE)
        assert results.total == len(HANDMADE)  # at least as many as were shown
        assert sum(count for _, count in results.facets["format"]) == 6  # counted on 5 + 1 rows
        assert len(engine.search(Query(offset=10)).hits) == 2
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
