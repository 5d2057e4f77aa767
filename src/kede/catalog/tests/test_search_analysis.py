"""Search analysis and query parsing: pure, no engine, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kede.catalog.search import analysis
from kede.catalog.search.analysis import (
    IdentifierClause,
    PhraseClause,
    TermClause,
    document_identifier_keys,
    document_tokens,
    highlight,
    parse_query,
    query_tokens,
)
from kede.catalog.search.engine import Filters, Query, QueryError
from kede.catalog.search.pg_engine import tsquery_literal, tsvector_literal


def texts(tokens: list[analysis.Token]) -> list[str]:
    return [t.text for t in tokens]


# --- tokens -----------------------------------------------------------------------------------


def test_latin_words_are_folded():
    # when
    tokens = query_tokens("Éducation SENTIMENTALE, Ｐｙｔｈｏｎ; Straße")
    # then
    assert texts(tokens) == ["education", "sentimentale", "python", "strasse"]
    assert [t.position for t in tokens] == [0, 1, 2, 3]


def test_cjk_run_becomes_bigrams_and_documents_also_get_characters():
    # when
    query = query_tokens("傲慢與偏見")
    document = document_tokens(["傲慢與偏見"])
    # then: traditional folded to simplified; queries bigrams only, documents characters too
    assert texts(query) == ["傲慢", "慢与", "与偏", "偏见"]
    assert [t.position for t in query] == [0, 1, 2, 3]
    assert set(texts(document)) == {"傲慢", "慢与", "与偏", "偏见", "傲", "慢", "与", "偏", "见"}
    assert {t.position for t in document if t.text == "偏"} == {3}


def test_single_cjk_character_query_is_one_token():
    assert texts(query_tokens("书")) == ["书"]
    assert texts(query_tokens("書")) == ["书"]


def test_mixed_scripts_split_at_script_boundaries():
    # when
    tokens = query_tokens("Python入門 第2版")
    # then
    assert texts(tokens) == ["python", "入门", "第", "2", "版"]


def test_kana_and_hangul_are_bigrammed():
    assert texts(query_tokens("を読む")) == ["を読", "読む"]
    assert texts(query_tokens("사십니까")) == ["사십", "십니", "니까"]


def test_arabic_letters_are_unified():
    # given: alef with hamza, alef maksura, teh marbuta, tatweel, Persian yeh
    # then
    assert query_tokens("الألفية")[0].text == query_tokens("الالفيه")[0].text
    assert query_tokens("فى")[0].text == query_tokens("في")[0].text
    assert query_tokens("كتـــاب")[0].text == "كتاب"
    assert query_tokens("ی")[0].text == "ي"


def test_apostrophes_split_words_and_documents_keep_the_joined_form():
    # when
    document = document_tokens(["L'Éducation", "O’Brien"])
    # then
    assert {"l", "education", "leducation", "o", "brien", "obrien"} <= set(texts(document))
    assert texts(query_tokens("L'éducation")) == ["l", "education"]


def test_values_of_one_field_are_kept_apart_for_phrases():
    # when
    tokens = document_tokens(["War", "Peace"])
    # then
    war, peace = tokens
    assert peace.position - war.position > 1


def test_very_long_tokens_are_cut_the_same_way_on_both_sides():
    word = "a" * 500
    assert document_tokens([word])[0].text == query_tokens(word)[0].text == "a" * 64


# --- identifiers ------------------------------------------------------------------------------


def test_identifier_keys_normalise_every_scheme():
    keys = document_identifier_keys(
        [
            "isbn:0-306-40615-2",
            "957331293X (pbk.) :",
            "issn:0378-5955",
            "lccn:85-2",
            "(OCoLC)ocm00012345",
            "oclc:987",
            "not an identifier",
        ]
    )
    assert keys == [
        "isbn:9780306406157",
        "isbn:9789573312932",
        "issn:03785955",
        "lccn:85000002",
        "oclc:12345",
        "oclc:987",
    ]


# --- queries ----------------------------------------------------------------------------------


def test_plain_words_are_required_terms():
    parsed = parse_query("war and peace")
    assert parsed.clauses == (TermClause("war"), TermClause("and"), TermClause("peace"))
    assert parsed.problems == ()


def test_quoted_phrase_and_field_prefixes():
    # when
    parsed = parse_query('title:"war and peace" author:Tolstoy au: Толстой')
    # then
    assert parsed.clauses == (
        PhraseClause(((0, "war"), (1, "and"), (2, "peace")), "title"),
        TermClause("tolstoy", "author"),
        TermClause("толстои", "author"),
    )


def test_cjk_phrase_keeps_positions():
    parsed = parse_query("“中国 历史”")
    assert parsed.clauses == (PhraseClause(((0, "中国"), (2, "历史")), None),)


def test_bare_isbn10_is_looked_up_as_isbn13():
    assert parse_query("0-306-40615-2").clauses == (IdentifierClause("isbn:9780306406157"),)
    assert parse_query("isbn:0306406152").clauses == (IdentifierClause("isbn:9780306406157"),)
    assert parse_query("issn：0378-5955").clauses == (IdentifierClause("issn:03785955"),)


def test_unbalanced_quote_is_tolerated_and_reported():
    # when
    parsed = parse_query('"war and peace')
    # then
    assert parsed.clauses == (PhraseClause(((0, "war"), (1, "and"), (2, "peace")), None),)
    assert parsed.problems == (
        "The quote at character 1 is never closed; the phrase was taken to run to the end.",
    )


def test_invalid_identifier_makes_the_query_unsatisfiable():
    parsed = parse_query("isbn:12345 war")
    assert parsed.unsatisfiable
    assert parsed.problems == ("“12345” is not a valid ISBN.",)


def test_empty_field_is_reported():
    parsed = parse_query("war title:")
    assert parsed.clauses == (TermClause("war"),)
    assert parsed.problems == ("“title:” is followed by nothing that can be searched.",)


def test_unknown_prefix_is_just_words():
    parsed = parse_query("Dune:Messiah")
    assert parsed.clauses == (TermClause("dune"), TermClause("messiah"))
    assert parsed.problems == ()


def test_too_many_terms_are_cut_and_reported():
    parsed = parse_query(" ".join(f"w{i}" for i in range(50)))
    assert len(parsed.clauses) == analysis.MAX_QUERY_CLAUSES
    assert "only the first 32" in parsed.problems[0]


@given(st.text(max_size=300))
def test_parsing_never_raises(text):
    parsed = parse_query(text)
    assert len(parsed.clauses) <= analysis.MAX_QUERY_CLAUSES
    assert tsquery_literal(parsed.clauses) is None or parsed.clauses


@given(st.text(alphabet=st.sampled_from("\"“”「」:：ti tle isbn 0-36X 書中 aé'’"), max_size=60))
def test_parsing_syntax_soup_never_raises(text):
    parse_query(text)


# --- highlighting -----------------------------------------------------------------------------


def test_highlight_marks_the_readers_own_spelling():
    terms = parse_query("傲慢与偏见 education").highlight_terms
    assert highlight("傲慢與偏見", terms) == "<mark>傲慢與偏見</mark>"
    assert highlight("L'Éducation <b>", terms) == "L&#x27;<mark>Éducation</mark> &lt;b&gt;"


@given(st.text(max_size=100), st.text(max_size=30))
def test_highlight_never_raises_and_only_adds_marks(title, query):
    markup = highlight(title, parse_query(query).highlight_terms)
    assert markup.replace("<mark>", "").replace("</mark>", "") == analysis.html.escape(title)


# --- PostgreSQL literals (pure) ---------------------------------------------------------------


def test_tsvector_literal_has_weights_and_positions():
    # given
    fields = {"title": document_tokens(["War and peace"]), "author": document_tokens(["Tolstoy"])}
    # when
    literal = tsvector_literal(fields)
    # then
    assert literal.startswith("'war':1A 'and':2A 'peace':3A 'tolstoy':")
    assert literal.endswith("B")


def test_tsquery_literal_quotes_and_restricts_fields():
    parsed = parse_query("""title:"o'brien war" it's""")
    assert tsquery_literal(parsed.clauses) == "('o':A <-> 'brien':A <-> 'war':A) & 'it' & 's'"


# --- Query validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": -1}, "limit must be between 0 and 1000, not -1"),
        ({"offset": -5}, "offset must not be negative (-5)"),
        ({"offset": 9990, "limit": 20}, "offset + limit must be at most 10000 (9990 + 20)"),
        ({"sort": "title"}, "sort must be one of relevance, year, not 'title'"),
        ({"facets": ("colour",)}, "unknown facet 'colour'; the facets are format, language,"),
        ({"filters": Filters(year_from=2000, year_to=1990)}, "year_from 2000 is after year_to"),
    ],
)
def test_bad_queries_are_refused_precisely(kwargs, message):
    with pytest.raises(QueryError) as raised:
        Query(**kwargs)
    assert str(raised.value).startswith(message)
