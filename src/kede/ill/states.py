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
# A message from the other side's system (ISO 18626), applied to this node's copy of that side.
PEER = "peer"


class RequesterState:
    SUBMITTED = "submitted"
    SENT = "sent"
    IN_PROCESS = "in_process"
    CONDITIONAL = "conditional"
    CANCEL_PENDING = "cancel_pending"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    PROBLEM = "problem"
    # Loans (returnable)
    SHIPPED = "shipped"
    RECEIVED = "received"
    CHECKED_OUT = "checked_out"
    OVERDUE = "overdue"
    RECALLED = "recalled"
    RENEW_PENDING = "renew_pending"
    RETURNED = "returned"
    RETURN_SHIPPED = "return_shipped"
    LOST = "lost"
    CANCELLED = "cancelled"
    UNFILLED = "unfilled"


class SupplierState:
    RECEIVED = "received"
    WILL_SUPPLY = "will_supply"
    CONDITIONAL = "conditional"
    CANCEL_REQUESTED = "cancel_requested"
    DELIVERED = "delivered"
    REDO = "redo"
    # Loans (returnable)
    SHIPPED = "shipped"
    OVERDUE = "overdue"
    RECALLED = "recalled"
    RENEW_REQUESTED = "renew_requested"
    RETURN_SHIPPED = "return_shipped"
    LOST = "lost"
    COMPLETED = "completed"
    UNFILLED = "unfilled"
    CANCELLED = "cancelled"


R = RequesterState
S = SupplierState

_ON_LOAN = {R.RECEIVED, R.CHECKED_OUT, R.OVERDUE, R.RECALLED, R.RENEW_PENDING}

# Copies: a copy that turns out illegible, incomplete or wrong goes back to its supplier, so a
# delivered or completed copy request can still move; only cancelled/unfilled are final.
# Loans: shipped → received by the library → checked out to the reader (→ overdue, recalled,
# renewals) → returned by the reader → shipped back → completed when the supplier checks it in.
REQUESTER = StateMachine(
    name="requester",
    states=(R.SUBMITTED, R.SENT, R.IN_PROCESS, R.CONDITIONAL, R.CANCEL_PENDING, R.DELIVERED,
            R.COMPLETED, R.PROBLEM, R.SHIPPED, R.RECEIVED, R.CHECKED_OUT, R.OVERDUE, R.RECALLED,
            R.RENEW_PENDING, R.RETURNED, R.RETURN_SHIPPED, R.LOST, R.CANCELLED, R.UNFILLED),
    initial=R.SUBMITTED,
    final=frozenset({R.CANCELLED, R.UNFILLED}),
    transitions=table(
        # action               from                                                          to                who
        ("route",              {R.SUBMITTED},                                                R.SENT,           {SYSTEM}),
        ("reroute",            {R.SENT, R.IN_PROCESS, R.PROBLEM, R.CONDITIONAL},             R.SENT,           {SYSTEM}),
        ("no_supplier",        {R.SUBMITTED, R.SENT, R.IN_PROCESS, R.PROBLEM, R.CONDITIONAL}, R.UNFILLED,      {SYSTEM}),
        ("supplier_accepted",  {R.SENT},                                                     R.IN_PROCESS,     {SYSTEM}),
        ("conditions_offered", {R.SENT, R.IN_PROCESS},                                       R.CONDITIONAL,    {SYSTEM}),
        ("accept_conditions",  {R.CONDITIONAL},                                              R.IN_PROCESS,     {READER, STAFF, PEER}),
        ("reject_conditions",  {R.CONDITIONAL},                                              R.SENT,           {READER, STAFF, PEER}),
        ("copy_delivered",     {R.SENT, R.IN_PROCESS, R.CANCEL_PENDING},                     R.DELIVERED,      {SYSTEM}),
        ("copy_received",      {R.DELIVERED},                                                R.COMPLETED,      {READER, STAFF, PEER}),
        ("report_problem",     {R.DELIVERED, R.COMPLETED},                                   R.PROBLEM,        {READER, STAFF, PEER}),
        ("copy_replaced",      {R.PROBLEM},                                                  R.DELIVERED,      {SYSTEM}),
        ("cancel",             {R.SUBMITTED, R.SENT, R.IN_PROCESS, R.PROBLEM, R.CONDITIONAL}, R.CANCELLED,     {READER, STAFF, PEER}),
        ("ask_cancel",         {R.IN_PROCESS},                                               R.CANCEL_PENDING, {READER, STAFF, PEER}),
        ("cancel_confirmed",   {R.CANCEL_PENDING},                                           R.CANCELLED,      {SYSTEM}),
        ("cancel_refused",     {R.CANCEL_PENDING},                                           R.IN_PROCESS,     {SYSTEM}),
        ("item_shipped",       {R.SENT, R.IN_PROCESS, R.CANCEL_PENDING},                     R.SHIPPED,        {SYSTEM}),
        ("item_received",      {R.SHIPPED},                                                  R.RECEIVED,       {STAFF, PEER}),
        ("check_out",          {R.RECEIVED},                                                 R.CHECKED_OUT,    {STAFF}),
        ("overdue",            {R.SHIPPED, *_ON_LOAN},                                       R.OVERDUE,        {SYSTEM}),
        ("recalled",           {R.SHIPPED, *_ON_LOAN},                                       R.RECALLED,       {SYSTEM}),
        ("ask_renew",          {R.RECEIVED, R.CHECKED_OUT, R.OVERDUE},                       R.RENEW_PENDING,  {READER, STAFF, PEER}),
        ("renew_granted",      {R.RENEW_PENDING},                                            R.CHECKED_OUT,    {SYSTEM}),
        ("renew_refused",      {R.RENEW_PENDING},                                            R.CHECKED_OUT,    {SYSTEM}),
        ("returned_by_reader", {*_ON_LOAN},                                                  R.RETURNED,       {STAFF}),
        ("ship_return",        {R.RETURNED, *_ON_LOAN},                                      R.RETURN_SHIPPED, {STAFF, PEER}),
        ("report_lost",        {R.SHIPPED, R.RETURNED, R.RETURN_SHIPPED, *_ON_LOAN},         R.LOST,           {STAFF, PEER}),
        ("loan_completed",     {R.RETURN_SHIPPED, R.RETURNED, R.LOST, R.SHIPPED, *_ON_LOAN}, R.COMPLETED,      {SYSTEM}),
    ),
)  # fmt: skip

SUPPLIER = StateMachine(
    name="supplier",
    states=(S.RECEIVED, S.WILL_SUPPLY, S.CONDITIONAL, S.CANCEL_REQUESTED, S.DELIVERED, S.REDO,
            S.SHIPPED, S.OVERDUE, S.RECALLED, S.RENEW_REQUESTED, S.RETURN_SHIPPED, S.LOST,
            S.COMPLETED, S.UNFILLED, S.CANCELLED),
    initial=S.RECEIVED,
    final=frozenset({S.UNFILLED, S.CANCELLED}),
    transitions=table(
        # action                 from                                                     to                  who
        ("accept",               {S.RECEIVED},                                            S.WILL_SUPPLY,      {STAFF, PEER}),
        ("offer_conditions",     {S.RECEIVED, S.WILL_SUPPLY},                             S.CONDITIONAL,      {STAFF, PEER}),
        ("conditions_accepted",  {S.CONDITIONAL},                                         S.WILL_SUPPLY,      {SYSTEM}),
        ("conditions_rejected",  {S.CONDITIONAL},                                         S.UNFILLED,         {SYSTEM}),
        ("deliver",              {S.RECEIVED, S.WILL_SUPPLY, S.REDO, S.CANCEL_REQUESTED}, S.DELIVERED,        {STAFF, PEER}),
        ("ship",                 {S.RECEIVED, S.WILL_SUPPLY, S.CANCEL_REQUESTED},         S.SHIPPED,          {STAFF, PEER}),
        ("refuse",               {S.RECEIVED, S.WILL_SUPPLY, S.REDO, S.CANCEL_REQUESTED}, S.UNFILLED,         {STAFF, PEER}),
        ("expire",               {S.RECEIVED},                                            S.UNFILLED,         {SYSTEM}),
        ("requester_problem",    {S.DELIVERED},                                           S.REDO,             {SYSTEM}),
        ("requester_cancel",     {S.RECEIVED, S.CONDITIONAL},                             S.CANCELLED,        {SYSTEM}),
        ("cancel_asked",         {S.WILL_SUPPLY, S.REDO},                                 S.CANCEL_REQUESTED, {SYSTEM}),
        ("cancel_accept",        {S.CANCEL_REQUESTED},                                    S.CANCELLED,        {STAFF, PEER}),
        ("cancel_refuse",        {S.CANCEL_REQUESTED},                                    S.WILL_SUPPLY,      {STAFF, PEER}),
        ("mark_overdue",         {S.SHIPPED},                                             S.OVERDUE,          {STAFF, SYSTEM, PEER}),
        ("recall",               {S.SHIPPED, S.OVERDUE, S.RENEW_REQUESTED},               S.RECALLED,         {STAFF, PEER}),
        ("renew_asked",          {S.SHIPPED, S.OVERDUE},                                  S.RENEW_REQUESTED,  {SYSTEM}),
        ("renew_grant",          {S.RENEW_REQUESTED},                                     S.SHIPPED,          {STAFF, PEER}),
        ("renew_refuse",         {S.RENEW_REQUESTED},                                     S.SHIPPED,          {STAFF, PEER}),
        ("requester_returned",   {S.SHIPPED, S.OVERDUE, S.RECALLED, S.RENEW_REQUESTED},   S.RETURN_SHIPPED,   {SYSTEM}),
        ("requester_lost",       {S.SHIPPED, S.OVERDUE, S.RECALLED, S.RENEW_REQUESTED,
                                  S.RETURN_SHIPPED},                                      S.LOST,             {SYSTEM}),
        ("check_in",             {S.RETURN_SHIPPED, S.SHIPPED, S.OVERDUE, S.RECALLED,
                                  S.RENEW_REQUESTED},                                     S.COMPLETED,        {STAFF, PEER}),
        ("close_lost",           {S.LOST},                                                S.COMPLETED,        {STAFF, PEER}),
    ),
)  # fmt: skip

# Supplier states in which the request still waits on that supplier to supply it.
SUPPLIER_OPEN = frozenset({S.RECEIVED, S.WILL_SUPPLY, S.REDO, S.CONDITIONAL, S.CANCEL_REQUESTED})
# Supplier states in which one of its items is out on loan.
SUPPLIER_ON_LOAN = frozenset(
    {S.SHIPPED, S.OVERDUE, S.RECALLED, S.RENEW_REQUESTED, S.RETURN_SHIPPED, S.LOST}
)
