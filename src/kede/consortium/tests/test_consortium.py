import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from kede.consortium import selectors, services
from kede.consortium.models import ClosedDay, Institution

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ISIL:CN-100871-L", ("ISIL", "CN-100871-L")), ("isil:XYZ", ("ISIL", "XYZ"))],
)
def test_agency_ids_are_read_as_type_and_value(text, expected):
    agency = services.parse_agency(text)
    assert (agency.type, agency.value) == expected


@pytest.mark.parametrize("text", ["ISIL", ":XYZ", "ISIL:", "IS IL:X", "ISIL:a b"])
def test_malformed_agency_ids_are_refused_with_a_message(text):
    with pytest.raises(ValidationError):
        services.parse_agency(text)


def test_a_centre_onboards_a_member_from_the_command_line(network, capsys):
    call_command(
        "consortium", "add-institution", "CQU", "--name", "重庆大学图书馆", "--region", "SW",
        "--type", "research_university", "--agency", "ISIL:CN-400044-C",
    )  # fmt: skip
    inst = Institution.objects.get(code="CQU")
    assert inst.region.code == "SW"
    assert [str(a) for a in inst.agency_ids.all()] == ["ISIL:CN-400044-C"]
    assert inst.service_profile.supplies_copies
    call_command("consortium", "list", "--json")
    listing = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert {"code": "CQU", "region": "SW"}.items() <= next(
        r for r in listing if r["code"] == "CQU"
    ).items()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "MARS"], "MARS.*CENTRAL, EAST, SW"),
        (["--region", "SW", "--agency", "nonsense"], "nonsense.*TYPE:VALUE"),
        (["--region", "SW", "--agency", "ISIL:dup"], "ISIL:dup.*FDU"),
    ],
)
def test_bad_onboarding_input_is_refused_with_a_precise_message(network, args, message):
    services.institution_add(
        code="FDU", name="FDU", region_code="EAST", agencies=[services.Agency("ISIL", "dup")]
    )
    with pytest.raises(CommandError, match=message):
        call_command("consortium", "add-institution", "NEWU", "--name", "New", *args)
    assert not Institution.objects.filter(code="NEWU").exists()


def test_a_closed_day_and_service_hours_decide_whether_a_library_serves(network):
    scu = network["SCU"]
    monday = datetime.date(2026, 11, 23)
    assert selectors.institution_is_open(scu, monday)
    ClosedDay.objects.create(institution=scu, date=monday, reason="holiday")
    assert not selectors.institution_is_open(scu, monday)
    scu.service_profile.opening_hours = {str(d): ["08:00-17:00"] for d in range(5)}
    scu.service_profile.save()
    assert not selectors.institution_is_open(scu, monday + datetime.timedelta(days=5))
