"""Two people acting on the same request at the same moment: exactly one wins."""

import threading

import pytest
from django.db import connection

from kede.core.statemachine import TransitionError
from kede.ill import services
from kede.ill.models import RequestEvent

pytestmark = pytest.mark.django_db(transaction=True)


def race(*actions):
    """Run the actions in threads released together; return (results, errors)."""
    barrier = threading.Barrier(len(actions))
    results, errors = [], []

    def run(action):
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


def test_two_staff_accepting_the_same_request_at_once_only_one_succeeds(network):
    # given a request at FDU and two FDU librarians
    from kede.accounts.models import Role
    from kede.accounts.services import role_grant
    from kede.conftest import make_user

    second = make_user("staff_fdu_2")
    role_grant(user=second, institution=network["FDU"], role=Role.ILL_STAFF)
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="Ch. 2", container_title="The making"),
        work=network.work,
    )
    supply = request.supplies.get()
    # when both press "will supply" at the same moment
    results, errors = race(
        lambda: services.supply_accept(actor=network.staff["FDU"], supply=supply),
        lambda: services.supply_accept(actor=second, supply=supply),
    )
    # then one succeeded, the other was told, and there is one event
    assert len(results) == 1
    assert len(errors) == 1 and isinstance(errors[0], TransitionError)
    assert RequestEvent.objects.filter(supply=supply, action="accept").count() == 1


def test_refuse_and_cancel_at_once_leave_a_consistent_request(network):
    # given a request at FDU
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="Ch. 3", container_title="The making"),
        work=network.work,
    )
    supply = request.supplies.get()
    # when FDU refuses while the reader cancels
    results, errors = race(
        lambda: services.supply_refuse(
            actor=network.staff["FDU"], supply=supply, reason="not_on_shelf"
        ),
        lambda: services.request_cancel(actor=network.readers["USST"], request=request),
    )
    # then exactly one happened first and the other was refused, never both half-applied
    assert len(results) + len(errors) == 2
    assert all(isinstance(e, TransitionError) for e in errors)
    request.refresh_from_db()
    supply.refresh_from_db()
    if request.state == "cancelled":
        assert supply.state in {"cancelled", "unfilled"}
        assert request.supplies.count() == 1 or supply.state == "unfilled"
    else:
        assert supply.state == "unfilled"
        assert request.state in {"sent", "cancelled"}
    open_supplies = request.supplies.filter(state__in=["received", "will_supply"])
    assert open_supplies.count() == (1 if request.state == "sent" else 0)
