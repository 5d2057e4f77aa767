"""Two Kede servers on loopback, each with its own database, running requests between them in
ISO 18626 over real HTTP.

Node A hosts the requesting library (USST) and knows FDU as a library on node B; node B hosts
FDU and knows USST as a library on node A. Everything else in the consortium is the same on
both (each node's own copy of the directory).
"""

from __future__ import annotations

import pytest

from kede.ill.tests.node import Node, eventually


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nodes")
    a, b = Node("A", folder / "a"), Node("B", folder / "b")
    try:
        a("setup", hosted=["USST", "PKU", "SCU", "WHU", "SASS"], remote={"FDU": b.iso_url})
        b("setup", hosted=["FDU", "PKU", "SCU", "WHU", "SASS"], remote={"USST": a.iso_url})
        a.start()
        b.start()
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_copy_crosses_from_one_node_to_the_other(nodes):
    a, b = nodes
    # given a USST reader's request on node A, routed to FDU on node B
    number = a("submit", title="Chapter 3: The moral economy")
    eventually(lambda: b("supplier_state", number=number), "received")
    seen = b("supplier_view", number=number)
    assert seen["title"] == "Chapter 3: The moral economy"
    # when FDU agrees and uploads the scan
    b("accept", number=number)
    eventually(lambda: a("requester_state", number=number), "in_process")
    b("deliver", number=number)
    # then node A fetches it, stamps it for its reader, who downloads it
    eventually(lambda: a("requester_state", number=number), "delivered")
    got = a("download", number=number)
    assert got == {"pages": 4, "stamped_for_reader": True}  # cover page + 3 scanned pages
    assert a("requester_state", number=number) == "completed"
    # and every message was confirmed, in both logs
    sent_by_a = [m for m in a("messages", number=number) if m[0] == "out"]
    assert [m[1] for m in sent_by_a] == ["New", "Received"]
    eventually(lambda: {m[2] for m in a("messages", number=number) if m[0] == "out"}, {"confirmed"})
    received_by_b = [m[1] for m in b("messages", number=number) if m[0] == "in"]
    assert received_by_b == ["New", "Received"]


def test_a_loan_goes_out_is_renewed_and_comes_back(nodes):
    a, b = nodes
    number = a("submit", title="The making of the English working class", service_type="loan")
    eventually(lambda: b("supplier_state", number=number), "received")
    assert b("supplier_view", number=number)["service"] == "loan"
    # the lender ships without saying "will supply" first
    b("ship", number=number, days=28)
    eventually(lambda: a("requester_state", number=number), "shipped")
    a("item_received", number=number)
    a("check_out", number=number)
    a("ask_renew", number=number)
    eventually(lambda: b("supplier_state", number=number), "renew_requested")
    b("answer_renew", number=number, grant=True, days=56)
    eventually(lambda: a("requester_state", number=number), "checked_out")
    assert a("requester_view", number=number)["due"] == b("supplier_view", number=number)["due"]
    a("returned", number=number)
    a("ship_return", number=number)
    eventually(lambda: b("supplier_state", number=number), "return_shipped")
    b("check_in", number=number)
    eventually(lambda: a("requester_state", number=number), "completed")
    assert b("supplier_view", number=number)["requester_state"] == "completed"


def test_unfilled_moves_on_to_the_next_library_on_the_first_node(nodes):
    a, b = nodes
    number = a("submit", title="Chapter 5")
    eventually(lambda: b("supplier_state", number=number), "received")
    b("refuse", number=number, reason="not_on_shelf")
    # FDU's refusal reaches node A, which sends the request on to SCU, hosted on A
    eventually(lambda: a("requester_view", number=number)["supplies"][-1][0], "SCU")
    view = a("requester_view", number=number)
    assert view["supplies"][0] == ["FDU", "unfilled", "not_on_shelf"]
    assert view["state"] == "sent"


def test_conditions_offered_accepted_and_rejected(nodes):
    a, b = nodes
    agreed, declined = a("submit", title="Chapter 6"), a("submit", title="Chapter 7")
    for number in (agreed, declined):
        eventually(lambda n=number: b("supplier_state", number=n), "received")
        b("offer_conditions", number=number, cost="30.00")
        eventually(lambda n=number: a("requester_state", number=n), "conditional")
    a("answer_conditions", number=agreed, accept=True)
    a("answer_conditions", number=declined, accept=False)
    # the agreement is a Retry request: FDU goes on supplying
    eventually(lambda: b("supplier_state", number=agreed), "will_supply")
    # the refusal cancels FDU's side and the request moves on to SCU
    eventually(lambda: b("supplier_state", number=declined), "cancelled")
    assert a("requester_view", number=declined)["supplies"][-1][:2] == ["SCU", "received"]


def test_cancel_is_asked_and_answered(nodes):
    a, b = nodes
    number = a("submit", title="Chapter 8")
    eventually(lambda: b("supplier_state", number=number), "received")
    b("accept", number=number)
    eventually(lambda: a("requester_state", number=number), "in_process")
    a("cancel", number=number)
    assert a("requester_state", number=number) == "cancel_pending"
    eventually(lambda: b("supplier_state", number=number), "cancel_requested")
    b("answer_cancel", number=number, accept=True)
    eventually(lambda: a("requester_state", number=number), "cancelled")


def test_messages_wait_while_the_peer_is_down_and_then_arrive(nodes):
    a, b = nodes
    # given node B is down
    b.stop()
    try:
        number = a("submit", title="Chapter 9")
        # then the request waits in A's outbox, tried and failed
        eventually(lambda: a("messages", number=number)[0][3] >= 1, True)
        status = a("messages", number=number)[0]
        assert status[:3] == ["out", "New", "pending"]
        assert status[4]  # why it failed, for staff to read
        assert a("requester_state", number=number) == "sent"
    finally:
        b.start()
    # when B is back and the retry pause is over, the message arrives once
    a("flush_outbox")
    eventually(lambda: b("supplier_state", number=number), "received")
    assert a("messages", number=number)[0][2] == "confirmed"
    a("flush_outbox")
    assert [m[1] for m in b("messages", number=number) if m[0] == "in"] == ["New"]
