"""The demo a newcomer gets from the first command: a consortium that works end to end."""

import pytest
from django.core.management import call_command

from kede.accounts.models import Membership, Role
from kede.catalog.models import Holding
from kede.consortium.models import Institution, Region
from kede.demo import DEMO_PASSWORD, demo_load
from kede.ill import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(tmp_path):
    # an empty folder: the bundled real records are used
    return demo_load(marc_dir=tmp_path)


def test_the_demo_is_a_consortium_of_every_kind_of_library(demo):
    assert demo.created
    assert Region.objects.count() == 3
    assert set(Region.objects.values_list("group", flat=True)) == {"east", "central", "west"}
    institutions = Institution.objects.all()
    assert institutions.count() >= 12
    assert len(set(institutions.values_list("type", flat=True))) >= 6
    for inst in institutions:
        roles = set(Membership.objects.filter(institution=inst).values_list("role", flat=True))
        assert {Role.READER, Role.ILL_STAFF} <= roles, inst.code
        assert inst.agency_ids.exists()


def test_the_demo_catalogue_is_real_and_spread_over_the_members(demo):
    assert demo.catalogue.works_created > 500
    holders = set(Holding.objects.values_list("institution__code", flat=True))
    assert len(holders) == Institution.objects.count()
    shared = Holding.objects.values("work").distinct().count() < Holding.objects.count()
    assert shared, "some works should be held by several libraries"


def test_a_demo_reader_can_ask_for_a_demo_title_and_it_reaches_a_holder(demo):
    from kede.accounts.models import User

    reader = User.objects.get(username="reader.usst")
    assert reader.check_password(DEMO_PASSWORD)
    work = Holding.objects.exclude(institution__code="USST").first().work
    request = services.request_submit(
        actor=reader,
        citation=services.Citation(title="Introduction", container_title=work.title),
        work=work,
    )
    assert request.state == "sent"
    assert work.holdings.filter(institution=request.supplies.get().supplier).exists()


def test_the_demo_has_journal_articles_with_the_libraries_that_hold_them(demo):
    from kede.catalog import article_index, selectors
    from kede.catalog.models import Article

    article_index.rebuild()  # tests roll back instead of committing: write the index here
    assert Article.objects.filter(journal__issn="2050-084X").count() == 22
    hits = selectors.articles_search("eLife", per_page=50).hits
    assert len(hits) == 22
    for hit in hits:
        # a run "v.1- (2012-)" covers every dated article; an undated one cannot be told
        state = "covered" if hit.article.year else "unknown"
        assert hit.holders == [("PKU", state), ("SCU", state)], hit.article.doi


def test_running_the_demo_command_again_changes_nothing(demo, capsys, tmp_path):
    before = Holding.objects.count()
    call_command("demo", "--marc-dir", str(tmp_path))
    out = capsys.readouterr().out
    assert "already loaded" in out and "reader.usst" in out
    assert Holding.objects.count() == before
