"""The rota: moving on, business days, endings with every reason, idempotent timers. No database."""

import datetime

import pytest

from kede.routing.rota import (
    Answered,
    Attempt,
    Calendar,
    Outcome,
    RotaEdited,
    RotaError,
    RotaState,
    Start,
    Status,
    TimerFired,
    business_days_elapsed,
    is_timed_out,
    next_step,
)

TZ = datetime.timezone(datetime.timedelta(hours=8))


def at(day: int, hour: int = 10, month: int = 3) -> datetime.datetime:
    """March 2025: the 7th is a Friday, the 10th a Monday."""
    return datetime.datetime(2025, month, day, hour, tzinfo=TZ)


# --- calendars ----------------------------------------------------------------------------------


def test_response_time_counts_business_days_across_a_weekend_and_a_closed_day():
    # given a supplier answering within 2 business days, closed on Monday 10 March
    calendar = Calendar(closed_dates=frozenset({datetime.date(2025, 3, 10)}), response_days=2)
    attempt = Attempt(supplier="FDU", sent_at=at(7))  # Friday

    # when the deadline is computed
    due = calendar.due_at(attempt.sent_at)

    # then Saturday, Sunday and the closed Monday do not count: due at the end of Wednesday
    assert due == datetime.datetime(2025, 3, 13, 0, 0, tzinfo=TZ)
    assert not is_timed_out(attempt, at(12, 23), calendar)
    assert is_timed_out(attempt, at(13, 0), calendar)


def test_sending_late_in_the_day_does_not_shorten_the_response_time():
    calendar = Calendar(response_days=1)
    assert calendar.due_at(at(11, 9)) == calendar.due_at(at(11, 23))


def test_an_answered_attempt_never_times_out():
    # given an attempt that was answered
    attempt = Attempt(supplier="FDU", sent_at=at(3), outcome=Outcome.UNFILLED)

    # then no clock makes it time out
    assert not is_timed_out(attempt, at(28), Calendar())


def test_business_days_elapsed_skip_weekends_and_closed_days():
    # given a supplier closed on Monday 10 March
    calendar = Calendar(closed_dates=frozenset({datetime.date(2025, 3, 10)}))

    # when a copy sent Friday at 12:00 is supplied Tuesday at 12:00
    days = business_days_elapsed(at(7, 12), at(11, 12), calendar)

    # then only Friday afternoon and Tuesday morning count
    assert days == pytest.approx(1.0)
    assert business_days_elapsed(at(11), at(7), calendar) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"open_weekdays": frozenset()}, "open_weekdays must be a non-empty set"),
        ({"open_weekdays": frozenset({7})}, "open_weekdays must be a non-empty set"),
        ({"response_days": 0}, "response_days must be at least 1, got 0"),
        ({"response_days": 1.5}, "response_days must be a whole number, got 1.5"),
    ],
)
def test_impossible_calendars_are_refused(kwargs, message):
    with pytest.raises(RotaError, match=message):
        Calendar(**kwargs)


# --- moving on ----------------------------------------------------------------------------------


def test_rota_moves_on_after_unfilled_rejected_condition_and_timeout_then_ends_in_proxy_search():
    # given a rota of three suppliers; SCU is closed on Monday 10 March
    calendars = {"SCU": Calendar(closed_dates=frozenset({datetime.date(2025, 3, 10)}))}
    state = RotaState(rota=("FDU", "WHU", "SCU"))

    # when the request starts, FDU has not got it on the shelf, WHU's conditions are declined,
    # and SCU (sent on Friday) stays silent past the end of Wednesday
    step = next_step(state, Start(at(5)), calendars)
    assert (step.send_to, step.state.status) == ("FDU", Status.SOURCING)
    step = next_step(
        step.state, Answered("FDU", Outcome.UNFILLED, at(6), "not on shelf"), calendars
    )
    assert step.send_to == "WHU"
    step = next_step(
        step.state, Answered("WHU", Outcome.REJECTED_CONDITION, at(7), "fee 80"), calendars
    )
    assert step.send_to == "SCU"
    assert step.due_at == datetime.datetime(2025, 3, 13, tzinfo=TZ)
    early = next_step(step.state, TimerFired("SCU", at(7), at(12, 23)), calendars)
    last = next_step(step.state, TimerFired("SCU", at(7), at(13, 0)), calendars)

    # then the early timer does nothing, and the due one ends the rota with the proxy-search
    # team, giving every supplier's reason in order
    assert not early.changed
    assert "not due until 2025-03-13" in early.note
    assert last.ended is Status.PROXY_SEARCH
    assert last.state.status is Status.PROXY_SEARCH
    assert [(r.supplier, r.outcome, r.text) for r in last.reasons] == [
        ("FDU", "unfilled", "not on shelf"),
        ("WHU", "rejected_condition", "fee 80"),
        ("SCU", "timed_out", "no answer within 2 business days"),
    ]
    assert [a.outcome for a in last.state.attempts] == [
        Outcome.UNFILLED,
        Outcome.REJECTED_CONDITION,
        Outcome.TIMED_OUT,
    ]


def test_without_proxy_search_the_request_ends_unfilled():
    # given a centre offering no proxy search, and a one-supplier rota
    state = next_step(RotaState(rota=("FDU",), proxy_search=False), Start(at(3))).state

    # when FDU cannot supply
    step = next_step(state, Answered("FDU", Outcome.UNFILLED, at(4)))

    # then the request goes back unfilled, with FDU's reason
    assert step.ended is Status.UNFILLED
    assert [r.text for r in step.reasons] == ["could not supply"]


def test_a_fill_ends_the_rota():
    state = next_step(RotaState(rota=("FDU", "WHU")), Start(at(3))).state
    step = next_step(state, Answered("FDU", Outcome.FILLED, at(4)))
    assert step.ended is Status.FILLED
    assert step.send_to is None
    assert step.state.remaining == ("WHU",)


def test_a_request_with_no_candidates_offers_proxy_search_at_once():
    # given nobody to ask
    state = RotaState(rota=())

    # when it starts
    step = next_step(state, Start(at(3)))

    # then it goes straight to proxy search, saying why
    assert step.ended is Status.PROXY_SEARCH
    assert [(r.outcome, r.text) for r in step.reasons] == [
        ("no_candidate", "no library can supply it")
    ]


def test_a_supplier_that_vanished_is_skipped_after_its_timeout():
    # given a peer that never answers (its server is down)
    state = next_step(RotaState(rota=("PEER", "FDU")), Start(at(3))).state

    # when its timer fires at the due time
    step = next_step(state, TimerFired("PEER", at(3), at(6, 0)))

    # then the request goes on to the next supplier
    assert step.send_to == "FDU"


# --- idempotence --------------------------------------------------------------------------------


def test_the_same_timer_firing_twice_advances_the_request_once():
    # given a request waiting on FDU past its due time
    state = next_step(RotaState(rota=("FDU", "WHU", "SCU")), Start(at(3))).state
    timer = TimerFired("FDU", at(3), at(6, 1))

    # when two workers handle the same timer from the same stored state
    first = next_step(state, timer)
    second = next_step(state, timer)
    # and the winner's state then meets the timer again (the loser re-read and retried)
    retried = next_step(first.state, timer)

    # then both computed the same single move (one conditional update wins), and the retry
    # does nothing: WHU got the request, SCU did not
    assert first == second
    assert first.send_to == "WHU"
    assert first.state.version == state.version + 1
    assert not retried.changed
    assert retried.state == first.state
    assert [a.supplier for a in retried.state.attempts] == ["FDU", "WHU"]


def test_a_duplicate_or_stale_answer_changes_nothing():
    # given FDU answered unfilled and the request moved on to WHU
    state = next_step(RotaState(rota=("FDU", "WHU")), Start(at(3))).state
    answer = Answered("FDU", Outcome.UNFILLED, at(4))
    moved = next_step(state, answer).state

    # when the same answer arrives again, and a timer for FDU's attempt goes off
    again = next_step(moved, answer)
    stale_timer = next_step(moved, TimerFired("FDU", at(3), at(10)))

    # then neither changes anything
    assert not again.changed and again.note == "not waiting for FDU"
    assert not stale_timer.changed
    assert again.state is moved


def test_a_started_request_ignores_a_second_start():
    state = next_step(RotaState(rota=("FDU",)), Start(at(3))).state
    assert not next_step(state, Start(at(3))).changed


def test_events_after_the_end_are_ignored():
    state = next_step(RotaState(rota=()), Start(at(3))).state
    step = next_step(state, Answered("FDU", Outcome.FILLED, at(4)))
    assert not step.changed
    assert "not sourcing" in step.note


def test_a_timeout_is_not_an_answer():
    state = next_step(RotaState(rota=("FDU",)), Start(at(3))).state
    with pytest.raises(RotaError, match="an answer must be one of"):
        next_step(state, Answered("FDU", Outcome.TIMED_OUT, at(4)))


# --- editing ------------------------------------------------------------------------------------


def test_staff_can_edit_the_rota_during_sourcing_and_tried_suppliers_stay_tried():
    # given FDU is being asked
    state = next_step(RotaState(rota=("FDU", "WHU")), Start(at(3))).state

    # when staff put SCU next and keep FDU in the list
    edited = next_step(state, RotaEdited(("FDU", "SCU", "WHU"), at(3, 11)))
    step = next_step(edited.state, Answered("FDU", Outcome.UNFILLED, at(4)))

    # then the pending attempt ran its course and SCU comes next, FDU is not asked twice
    assert edited.changed and edited.send_to is None
    assert step.send_to == "SCU"
    assert step.state.remaining == ("WHU",)
    assert not next_step(edited.state, RotaEdited(("FDU", "SCU", "WHU"), at(3, 12))).changed


def test_a_rota_naming_a_supplier_twice_is_refused():
    with pytest.raises(RotaError, match="supplier 'FDU' appears twice in the rota"):
        RotaState(rota=("FDU", "WHU", "FDU"))
    state = RotaState(rota=("FDU",))
    with pytest.raises(RotaError, match="appears twice"):
        next_step(state, RotaEdited(("WHU", "WHU"), at(3)))


def test_a_finished_rota_cannot_be_edited():
    state = next_step(RotaState(rota=("FDU",)), Start(at(3))).state
    done = next_step(state, Answered("FDU", Outcome.FILLED, at(4))).state
    step = next_step(done, RotaEdited(("WHU",), at(5)))
    assert not step.changed
    assert step.note == "the rota is over (status filled)"


def test_a_state_read_back_from_json_works_like_the_original():
    # given a state stored as plain strings, as a JSON column gives it back
    stored = RotaState(
        rota=("FDU", "WHU"),
        attempts=(Attempt(supplier="FDU", sent_at=at(3), outcome="pending"),),
        status="sourcing",
        version=1,
    )

    # when FDU answers
    step = next_step(stored, Answered("FDU", "unfilled", at(4)))

    # then it moves on as usual
    assert step.send_to == "WHU"
    assert stored.status is Status.SOURCING
