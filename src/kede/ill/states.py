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
    CANCELLED = "cancelled"
    UNFILLED = "unfilled"


class SupplierState:
    RECEIVED = "received"
    WILL_SUPPLY = "will_supply"
    DELIVERED = "delivered"
    UNFILLED = "unfilled"
    CANCELLED = "cancelled"


R = RequesterState
S = SupplierState

REQUESTER = StateMachine(
    name="requester",
    states=(R.SUBMITTED, R.SENT, R.IN_PROCESS, R.DELIVERED, R.COMPLETED, R.CANCELLED, R.UNFILLED),
    initial=R.SUBMITTED,
    final=frozenset({R.COMPLETED, R.CANCELLED, R.UNFILLED}),
    transitions=table(
        # action               from                                  to              who
        ("route",              {R.SUBMITTED},                        R.SENT,         {SYSTEM}),
        ("reroute",            {R.SENT, R.IN_PROCESS},               R.SENT,         {SYSTEM}),
        ("no_supplier",        {R.SUBMITTED, R.SENT, R.IN_PROCESS},  R.UNFILLED,     {SYSTEM}),
        ("supplier_accepted",  {R.SENT},                             R.IN_PROCESS,   {SYSTEM}),
        ("copy_delivered",     {R.SENT, R.IN_PROCESS},               R.DELIVERED,    {SYSTEM}),
        ("copy_received",      {R.DELIVERED},                        R.COMPLETED,    {READER, STAFF}),
        ("cancel",             {R.SUBMITTED, R.SENT, R.IN_PROCESS},  R.CANCELLED,    {READER, STAFF}),
    ),
)  # fmt: skip

SUPPLIER = StateMachine(
    name="supplier",
    states=(S.RECEIVED, S.WILL_SUPPLY, S.DELIVERED, S.UNFILLED, S.CANCELLED),
    initial=S.RECEIVED,
    final=frozenset({S.DELIVERED, S.UNFILLED, S.CANCELLED}),
    transitions=table(
        ("accept",             {S.RECEIVED},                 S.WILL_SUPPLY,  {STAFF}),
        ("deliver",            {S.RECEIVED, S.WILL_SUPPLY},  S.DELIVERED,    {STAFF}),
        ("refuse",             {S.RECEIVED, S.WILL_SUPPLY},  S.UNFILLED,     {STAFF}),
        ("requester_cancel",   {S.RECEIVED, S.WILL_SUPPLY},  S.CANCELLED,    {SYSTEM}),
    ),
)  # fmt: skip

# Supplier states in which the request still waits on that supplier.
SUPPLIER_OPEN = frozenset({S.RECEIVED, S.WILL_SUPPLY})
