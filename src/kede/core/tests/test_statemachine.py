import pytest

from kede.core.statemachine import StateMachine, TransitionNotAllowed, table
from kede.ill.states import REQUESTER, STAFF, SUPPLIER, SYSTEM


def test_an_action_from_a_state_it_does_not_start_from_is_refused():
    with pytest.raises(TransitionNotAllowed, match="'deliver' is not allowed in state 'unfilled'"):
        SUPPLIER.transition("unfilled", "deliver")


def test_unknown_actions_are_refused():
    with pytest.raises(TransitionNotAllowed):
        REQUESTER.transition("sent", "teleport")


def test_final_states_have_no_way_out():
    for machine in (REQUESTER, SUPPLIER):
        for state in machine.final:
            assert machine.actions_from(state) == []


def test_actions_offered_depend_on_who_asks():
    assert SUPPLIER.actions_from("received", [STAFF]) == [
        "accept",
        "offer_conditions",
        "deliver",
        "ship",
        "refuse",
    ]
    assert SUPPLIER.actions_from("received", [SYSTEM]) == ["expire", "requester_cancel"]


def test_a_table_with_undeclared_states_is_rejected_when_built():
    with pytest.raises(ValueError, match="undeclared states"):
        StateMachine(
            name="bad",
            states=("a", "b"),
            initial="a",
            final=frozenset({"b"}),
            transitions=table(("go", {"a"}, "c", {"x"})),
        )


def test_a_table_leaving_a_final_state_is_rejected_when_built():
    with pytest.raises(ValueError, match="starts from a final state"):
        StateMachine(
            name="bad",
            states=("a", "b"),
            initial="a",
            final=frozenset({"b"}),
            transitions=table(("back", {"b"}, "a", {"x"})),
        )
