import pytest

from kede.catalog.indexing import rebuild
from kede.catalog.marc import BibRecord
from kede.catalog.selectors import work_holdings, works_search
from kede.catalog.services import catalog_load_file, catalog_load_records
from kede.demo import BUNDLED_MARC

pytestmark = pytest.mark.django_db


def test_search_matches_every_word_across_title_author_and_ids(network):
    assert works_search("making english").works == [network.work]
    assert works_search("THOMPSON").works == [network.work]
    assert works_search("978-0-394-70322-0").works == [network.work]
    assert works_search("0031-2746").works == [network.serial]
    assert works_search("making french").works == []
    assert works_search("   ").works == []


def test_search_folds_accents_and_width(network):
    catalog_load_records(
        records=[BibRecord(local_id="z1", title="Études sur l'ＡＲＴ chinois")],
        holders=lambda bib: [network["SCU"]],
    )
    rebuild()  # the test's transaction never commits
    assert [w.title for w in works_search("etudes art").works] == ["Études sur l'ＡＲＴ chinois"]


def test_the_same_isbn_from_two_libraries_is_one_work_with_two_holdings(network):
    report = catalog_load_records(
        records=[BibRecord(local_id="local-9", title="The Making", isbns=["9780394703220"])],
        holders=lambda bib: [network["PKU"]],
    )
    assert report.works_created == 0
    assert sorted(h.institution.code for h in work_holdings(network.work)) == ["FDU", "PKU", "SCU"]


def test_loading_a_real_file_twice_changes_nothing_the_second_time(network):
    path = next(iter(sorted(BUNDLED_MARC.glob("*.xml.gz"))))
    first = catalog_load_file(path=path, holders=lambda bib: [network["USST"]])
    again = catalog_load_file(path=path, holders=lambda bib: [network["USST"]])
    assert first.works_created > 50
    assert (again.works_created, again.holdings_created) == (0, 0)
    assert again.read == first.read
