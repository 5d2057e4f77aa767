"""Background work for routing. Every task is safe to run twice, and at once."""

from __future__ import annotations

from django_tasks import task


@task()
def advance_timed_out_supplies() -> int:
    """Move on every request whose supplier did not answer within its stated response time
    (business days by its calendar); then fold the attempts that ended since the last run
    into the suppliers' statistics, and count every supplier's open requests for the load
    criterion. Two runs at once move each request on once."""
    from kede.routing.services import loads_refresh, stats_catch_up, supplies_advance_timed_out

    moved = supplies_advance_timed_out()
    stats_catch_up()
    loads_refresh()
    return moved
