"""The request lifecycle, declared once. Pure: no Django.

Two machines, as in ISO 18626: the requester side (the reader's library) and the supplier side
(one per library the request is sent to). Actor kinds: "reader" (the request's own reader),
"staff" (ILL staff of the side's library), "system" (Kede itself: routing, messages, timers).
"""

from __future__ import annotations

from kede.core.statemachine import StateMachine, table

READER = "reader"
STAFF = "staff"
SYSTEM = "system"


class RequesterState:
    SUBMITTED = "submitted"
    SENT = "sent"
    IN_PROCESS = "in_process"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    PROBLEM = "problem"
    CANCELLED = "cancelled"
    UNFILLED = "unfilled"


class SupplierState:
    RECEIVED = "received"
    WILL_SUPPLY = "will_supply"
    DELIVERED = "delivered"
    REDO = "redo"
    UNFILLED = "unfilled"
    CANCELLED = "cancelled"


R = RequesterState
S = SupplierState

# A copy that turns out illegible, incomplete or wrong goes back to its supplier: so a
# delivered or completed copy request can still move, and only cancelled/unfilled are final.
REQUESTER = StateMachine(
    name="requester",
    states=(R.SUBMITTED, R.SENT, R.IN_PROCESS, R.DELIVERED, R.COMPLETED, R.PROBLEM, R.CANCELLED,
            R.UNFILLED),
    initial=R.SUBMITTED,
    final=frozenset({R.CANCELLED, R.UNFILLED}),
    transitions=table(
        # action               from                                             to            who
        ("route",              {R.SUBMITTED},                                   R.SENT,       {SYSTEM}),
        ("reroute",            {R.SENT, R.IN_PROCESS, R.PROBLEM},               R.SENT,       {SYSTEM}),
        ("no_supplier",        {R.SUBMITTED, R.SENT, R.IN_PROCESS, R.PROBLEM},  R.UNFILLED,   {SYSTEM}),
        ("supplier_accepted",  {R.SENT},                                        R.IN_PROCESS, {SYSTEM}),
        ("copy_delivered",     {R.SENT, R.IN_PROCESS},                          R.DELIVERED,  {SYSTEM}),
        ("copy_received",      {R.DELIVERED},                                   R.COMPLETED,  {READER, STAFF}),
        ("report_problem",     {R.DELIVERED, R.COMPLETED},                      R.PROBLEM,    {READER, STAFF}),
        ("copy_replaced",      {R.PROBLEM},                                     R.DELIVERED,  {SYSTEM}),
        ("cancel",             {R.SUBMITTED, R.SENT, R.IN_PROCESS, R.PROBLEM},  R.CANCELLED,  {READER, STAFF}),
    ),
)  # fmt: skip

SUPPLIER = StateMachine(
    name="supplier",
    states=(S.RECEIVED, S.WILL_SUPPLY, S.DELIVERED, S.REDO, S.UNFILLED, S.CANCELLED),
    initial=S.RECEIVED,
    final=frozenset({S.UNFILLED, S.CANCELLED}),
    transitions=table(
        ("accept",             {S.RECEIVED},                         S.WILL_SUPPLY,  {STAFF}),
        ("deliver",            {S.RECEIVED, S.WILL_SUPPLY, S.REDO},  S.DELIVERED,    {STAFF}),
        ("refuse",             {S.RECEIVED, S.WILL_SUPPLY, S.REDO},  S.UNFILLED,     {STAFF}),
        ("requester_problem",  {S.DELIVERED},                        S.REDO,         {SYSTEM}),
        ("requester_cancel",   {S.RECEIVED, S.WILL_SUPPLY, S.REDO},  S.CANCELLED,    {SYSTEM}),
    ),
)  # fmt: skip

# Supplier states in which the request still waits on that supplier.
SUPPLIER_OPEN = frozenset({S.RECEIVED, S.WILL_SUPPLY, S.REDO})
