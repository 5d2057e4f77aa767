"""The bulk writers store what the ORM would, and give back ids in the rows' order."""

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from kede.catalog.models import IndexBacklog, Work
from kede.core.bulk import insert_many, insert_returning_ids, update_many

pytestmark = pytest.mark.django_db


def test_ids_come_back_in_the_rows_order_across_chunks():
    names = [f"group {i:04d} 北京" for i in range(1234)]
    ids = insert_returning_ids(Group, ["name"], [[n] for n in names])
    assert len(ids) == len(set(ids)) == 1234
    assert dict(Group.objects.values_list("id", "name")) == dict(zip(ids, names, strict=True))
    assert insert_returning_ids(Group, ["name"], []) == []


def test_dates_and_text_read_back_as_written():
    when = timezone.now().replace(microsecond=0)
    blank = [f.name for f in Work._meta.concrete_fields if f.name not in ("id", "title")]
    names = ["title", *blank]
    values = {"search_text": "l education", "updated_at": when, "format": "book"}
    [work_id] = insert_returning_ids(
        Work, names, [["L'Éducation", *(values.get(name, "") for name in blank)]]
    )
    work = Work.objects.get(id=work_id)
    assert (work.title, work.search_text, work.updated_at) == ("L'Éducation", "l education", when)
    work.title = 'Say "hi"'
    update_many(Work, ["title"], [work])
    assert Work.objects.get(id=work_id).title == 'Say "hi"'


def test_insert_many_and_conflicts():
    insert_many(IndexBacklog, ["work_id"], [[7], [8], [7]])
    assert sorted(IndexBacklog.objects.values_list("work_id", flat=True)) == [7, 7, 8]
    Group.objects.create(name="taken")
    insert_many(Group, ["name"], [["taken"], ["free"]], ignore_conflicts=True)
    assert sorted(Group.objects.values_list("name", flat=True)) == ["free", "taken"]
