"""`__among` finds exactly the rows `__in` finds, on either database."""

import pytest
from django.contrib.auth.models import Group
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

NAMES = ["alpha", "Beta", "o'brien", 'say "hi"', "北京大学", "Ünïcode", "back\\slash", "[1, 2]"]


@pytest.fixture
def groups():
    return {g.name: g.id for g in Group.objects.bulk_create([Group(name=n) for n in NAMES])}


def test_ids_and_text_find_what_in_finds(groups):
    ids = [groups["alpha"], groups["北京大学"], 10**12]
    assert set(Group.objects.filter(id__among=ids).values_list("name", flat=True)) == {
        "alpha",
        "北京大学",
    }
    wanted = ["o'brien", 'say "hi"', "back\\slash", "[1, 2]", "missing"]
    assert set(Group.objects.filter(name__among=wanted).values_list("name", flat=True)) == set(
        wanted[:4]
    )


def test_empty_list_none_and_repeats(groups):
    assert list(Group.objects.filter(id__among=[])) == []
    assert list(Group.objects.filter(name__among=[None])) == []
    found = Group.objects.filter(name__among=["alpha", "alpha", None]).values_list(
        "name", flat=True
    )
    assert list(found) == ["alpha"]
    # Excluding nothing keeps everything, as `__in` does.
    assert Group.objects.exclude(id__among=[]).count() == len(NAMES)


def test_thousands_of_values_are_one_parameter(groups):
    ids = list(range(1, 40_001))
    found = Group.objects.filter(id__among=ids)
    _sql, params = found.query.sql_with_params()
    assert len(params) == 1
    assert found.count() == len(NAMES)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from([*NAMES, "gamma", "", "ALPHA"]), max_size=12))
def test_same_rows_as_in(groups, wanted):
    among = set(Group.objects.filter(name__among=wanted).values_list("id", flat=True))
    assert among == set(Group.objects.filter(name__in=wanted).values_list("id", flat=True))


def test_foreign_keys(groups):
    from django.contrib.auth.models import Permission

    permission = Permission.objects.first()
    group = Group.objects.get(name="alpha")
    group.permissions.add(permission)
    through = Group.permissions.through.objects
    assert list(
        through.filter(group_id__among=[group.id]).values_list("permission_id", flat=True)
    ) == [permission.id]
    assert through.filter(group__among=[group.id]).count() == 1
