"""The command-line side: peers registered by script, requests listed for scripts."""

import json

import pytest
from django.core.management import CommandError, call_command

from kede.conftest import deliver_copy, submit_copy_request
from kede.ill import services
from kede.ill.models import Peer

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_peer_is_registered_by_agency_id_and_updated_in_place():
    run("peers", "add", "ISIL:NO-0030100", "--url", "https://ill.example.org/iso18626")
    run("peers", "add", "isil:NO-0030100", "--url", "https://new.example.org/iso18626",
        "--version", "2021-2")  # fmt: skip
    [peer] = Peer.objects.all()
    assert (str(peer), peer.url, peer.version) == (
        "ISIL:NO-0030100",
        "https://new.example.org/iso18626",
        "2021-2",
    )
    listed = json.loads(run("peers", "list", "--json"))
    assert listed == [
        {"agency": "ISIL:NO-0030100", "url": "https://new.example.org/iso18626",
         "version": "2021-2", "name": ""}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOCOLON", "--url", "https://x.org/"], "TYPE:VALUE"),
        (["ISIL:X", "--url", "ftp://x.org/"], "ftp://x.org/"),
        (["ISIL:X", "--url", "not a url"], "not a url"),
    ],
)
def test_bad_peers_are_refused_with_a_message(args, message):
    with pytest.raises(CommandError, match=message):
        run("peers", "add", *args)
    assert not Peer.objects.exists()


def test_a_library_lists_its_requests_on_both_sides(network):
    # given one request USST asked FDU for, delivered, and one FDU asked SCU for
    delivered = deliver_copy(network, "Chapter 1")
    asked = submit_copy_request(network, "Chapter 2", reader="FDU")
    # when FDU lists its requests
    rows = json.loads(run("ill", "list", "--institution", "fdu", "--json"))
    # then it sees both, each from its own side
    by_number = {row["number"]: row for row in rows}
    assert by_number[delivered.number]["side"] == "supplier"
    assert by_number[delivered.number]["state"] == "delivered"
    assert by_number[delivered.number]["partner"] == "USST"
    assert "reader" not in by_number[delivered.number]
    assert by_number[asked.number]["side"] == "requester"
    assert by_number[asked.number]["partner"] == "SCU"
    assert by_number[asked.number]["reader"] == network.readers["FDU"].username


def test_listing_filters_by_state_and_refuses_unknown_libraries(network):
    request = submit_copy_request(network)
    services.request_cancel(actor=network.readers["USST"], request=request)
    assert (
        json.loads(run("ill", "list", "--institution", "USST", "--state", "sent", "--json")) == []
    )
    assert len(json.loads(run("ill", "list", "--institution", "USST", "--state", "cancelled",
                              "--json"))) == 1  # fmt: skip
    with pytest.raises(CommandError, match="NOPE"):
        run("ill", "list", "--institution", "NOPE")
