"""Suppliers that do not answer in time, and what ended attempts teach the router."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from kede.conftest import deliver_copy, submit_copy_request
from kede.consortium.models import ClosedDay, ServiceProfile
from kede.ill import services
from kede.ill.models import SupplyRequest
from kede.routing import selectors
from kede.routing import services as routing_services
from kede.routing.models import SupplierProfile, SupplierStats, SupplyOutcome
from kede.routing.tasks import advance_timed_out_supplies

TZ = datetime.timezone(datetime.timedelta(hours=8))


def backdate(supply, days):
    """Time travel for one supply: it was sent `days` ago."""
    SupplyRequest.objects.filter(pk=supply.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=days)
    )


def stats(network, code, service="copy"):
    return SupplierStats.objects.get(supplier=network[code], service_type=service)


@pytest.mark.django_db
def test_a_supplier_that_never_answers_is_skipped_after_its_timeout(network):
    # given a request sent to FDU (answers within 2 business days) ten days ago, unanswered
    request = submit_copy_request(network)
    first = request.supplies.get()
    backdate(first, 10)
    # when the timer runs
    moved = advance_timed_out_supplies.call()
    # then FDU's turn ended with "no answer in time" and SCU has the request now
    assert moved == 1
    first.refresh_from_db()
    assert (first.state, first.reason) == ("unfilled", "no_answer")
    request.refresh_from_db()
    assert request.state == "sent"
    assert request.supplies.order_by("-position").first().supplier.code == "SCU"
    # and the silence counts against FDU once the statistics catch up
    routing_services.stats_catch_up(now=timezone.now() + datetime.timedelta(minutes=5))
    assert stats(network, "FDU").timed_out == pytest.approx(1)
    assert stats(network, "FDU").checked == 0


@pytest.mark.django_db
def test_two_timers_for_the_same_supply_advance_it_once(network):
    request = submit_copy_request(network)
    backdate(request.supplies.get(), 10)
    assert routing_services.supplies_advance_timed_out() == 1
    assert routing_services.supplies_advance_timed_out() == 0
    assert ill_supplies(request) == ["FDU:unfilled", "SCU:received"]


def ill_supplies(request):
    return [
        f"{s.supplier.code}:{s.state}"
        for s in request.supplies.select_related("supplier").order_by("position")
    ]


@pytest.mark.django_db
def test_a_supply_within_its_response_time_is_left_alone(network):
    request = submit_copy_request(network)
    assert routing_services.supplies_advance_timed_out() == 0
    soon = timezone.now() + datetime.timedelta(hours=20)
    assert routing_services.supplies_advance_timed_out(now=soon) == 0
    assert ill_supplies(request) == ["FDU:received"]


@pytest.mark.django_db
def test_an_answered_supply_is_never_timed_out(network):
    request = submit_copy_request(network)
    supply = request.supplies.get()
    services.supply_accept(actor=network.staff["FDU"], supply=supply)
    backdate(supply, 10)
    assert routing_services.supplies_advance_timed_out() == 0
    assert ill_supplies(request) == ["FDU:will_supply"]


@pytest.mark.django_db
def test_response_time_counts_business_days_by_the_suppliers_calendar(network):
    # given FDU answers within 2 business days and declared Monday 2 March 2026 closed
    ClosedDay.objects.create(institution=network["FDU"], date=datetime.date(2026, 3, 2))
    request = submit_copy_request(network)
    supply = request.supplies.get()
    friday = datetime.datetime(2026, 2, 27, 16, 0, tzinfo=TZ)
    SupplyRequest.objects.filter(pk=supply.pk).update(created_at=friday)
    supply.refresh_from_db()
    # then it is due at the end of Wednesday (Tuesday and Wednesday are its two open days)
    assert selectors.due_at(supply) == datetime.datetime(2026, 3, 5, tzinfo=TZ)
    wednesday_night = datetime.datetime(2026, 3, 4, 23, 30, tzinfo=TZ)
    assert routing_services.supplies_advance_timed_out(now=wednesday_night) == 0
    thursday = datetime.datetime(2026, 3, 5, 0, 1, tzinfo=TZ)
    assert routing_services.supplies_advance_timed_out(now=thursday) == 1


@pytest.mark.django_db
def test_a_slower_supplier_gets_its_stated_response_time(network):
    ServiceProfile.objects.filter(institution=network["FDU"]).update(response_days=10)
    request = submit_copy_request(network)
    backdate(request.supplies.get(), 5)
    assert routing_services.supplies_advance_timed_out() == 0
    backdate(request.supplies.get(), 20)
    assert routing_services.supplies_advance_timed_out() == 1


@pytest.mark.django_db
def test_after_the_last_silent_supplier_the_request_ends_with_every_reason(network):
    request = submit_copy_request(network)
    for _ in range(2):
        backdate(request.supplies.order_by("-position").first(), 10)
        assert routing_services.supplies_advance_timed_out() == 1
    request.refresh_from_db()
    assert request.state == "unfilled"
    assert ill_supplies(request) == ["FDU:unfilled", "SCU:unfilled"]
    assert set(request.supplies.values_list("reason", flat=True)) == {"no_answer"}


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_firing_at_once_move_the_request_on_once(network):
    # given a supply past its due time
    request = submit_copy_request(network)
    backdate(request.supplies.get(), 10)
    # when two workers run the timer at the same moment
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(routing_services.supplies_advance_timed_out())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # then exactly one moved it, and it moved once
    assert errors == []
    assert sorted(results) == [0, 1]
    assert ill_supplies(request) == ["FDU:unfilled", "SCU:received"]


# ---- statistics ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_not_on_shelf_answer_counts_against_holdings_accuracy(network):
    request = submit_copy_request(network)
    services.supply_refuse(
        actor=network.staff["FDU"], supply=request.supplies.get(), reason="not_on_shelf"
    )
    assert routing_services.stats_catch_up(now=timezone.now() + datetime.timedelta(minutes=5))
    fdu = stats(network, "FDU")
    assert (fdu.answered, fdu.checked, fdu.not_held, fdu.filled) == (1, 1, 1, 0)


@pytest.mark.django_db
def test_a_fill_teaches_fill_rate_turnaround_and_the_lend_borrow_balance(network):
    # given FDU delivered a copy to a USST reader
    deliver_copy(network)
    # when the statistics catch up with the history
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert routing_services.stats_catch_up(now=later) == 1
    # then FDU filled one and lent one; USST borrowed one
    fdu = stats(network, "FDU")
    assert (fdu.answered, fdu.filled, fdu.supplied, fdu.lent) == (1, 1, 1, 1)
    assert fdu.turnaround_days >= 0
    assert stats(network, "USST").borrowed == 1
    # and running it again, or recording the supply again, changes nothing
    assert routing_services.stats_catch_up(now=later) == 0
    supply = SupplyRequest.objects.get(supplier=network["FDU"])
    assert routing_services.stats_record_outcome(supply) is False
    assert SupplyOutcome.objects.count() == 1


@pytest.mark.django_db
def test_the_statistics_wait_for_late_commits_and_a_rebuild_learns_the_same(network):
    deliver_copy(network)
    request = submit_copy_request(network, "Second")
    services.supply_refuse(
        actor=network.staff["FDU"], supply=request.supplies.get(), reason="copyright"
    )
    # the history is too recent to be read yet (a transaction may still be committing)
    assert routing_services.stats_catch_up() == 0
    assert not SupplierStats.objects.exists()
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert routing_services.stats_catch_up(now=later) == 2
    before = SupplierStats.objects.get(supplier=network["FDU"], service_type="copy")
    # when rebuilt from the whole history
    assert routing_services.stats_rebuild() == 2
    after = SupplierStats.objects.get(supplier=network["FDU"], service_type="copy")
    # then the same counts
    assert before.filled > 0 and before.answered > before.filled
    for name in ("answered", "filled", "checked", "not_held", "supplied", "lent"):
        assert getattr(after, name) == getattr(before, name), name


@pytest.mark.django_db
def test_learned_statistics_change_the_ranking(network):
    # given FDU failed many times and SCU filled many (both have a history for copies)
    SupplierStats.objects.create(
        supplier=network["FDU"], service_type="copy", answered=40, checked=40, not_held=30
    )
    SupplierStats.objects.create(
        supplier=network["SCU"],
        service_type="copy",
        answered=40,
        filled=39,
        checked=40,
        supplied=39,
        turnaround_days=20,
    )
    # when USST's reader asks
    request = submit_copy_request(network)
    # then SCU (far away) goes first despite FDU being in the region, and says why
    assert request.supplies.get().supplier.code == "SCU"
    explained = selectors.plan_explanations(request.rota_plan)
    reasons = {s.criterion: s.reason for s in explained["SCU"].breakdown}
    assert reasons["days_per_fill"] == (
        "0.7 days per copy filled: fills 95%, answers in 0.6 days, silent past its 2 days "
        "0% of the time"
    )


@pytest.mark.django_db
def test_the_load_criterion_reads_each_suppliers_open_requests(network):
    # given FDU carries 2 open requests for a stated capacity of 4
    SupplierProfile.objects.create(institution=network["FDU"], capacity=4)
    for n in range(2):
        submit_copy_request(network, f"Busy {n}")
    # when the periodic job counts the loads and another request is ranked
    assert routing_services.loads_refresh() == 2
    request = submit_copy_request(network, "Third")
    # then the ranking says how loaded FDU is
    explained = selectors.plan_explanations(request.rota_plan)
    reasons = {s.criterion: s.reason for s in explained["FDU"].breakdown}
    assert reasons["load"] == "2 open requests for a capacity of 4"
