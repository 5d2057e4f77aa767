"""The routing centre's pure core: who to ask for a request, in what order, and when to move on.

Nothing here imports Django. The Django layer reads the facts from the database (holders,
directory profiles, calendars, loads, learned statistics), hands them over as plain data, and
writes back what these functions decide:

- `policy`: the exclusion rules (`eligible`) and the centre's ranking policy (`rank`), an
  ordered list of weighted criteria whose every score comes with its reason;
- `rota`: the rota as a deterministic, idempotent step function (`next_step`), with business
  days counted by each supplier's calendar;
- `stats`: what completed requests teach about a supplier (fill rate, turnaround, holdings
  accuracy, timeouts, and from them days per fill), as posterior estimates under priors;
- `coverage`: whether a holder's serial holdings statement includes the volume or year a
  request is for.

`bench/routing_sim.py` drives these same functions through a simulated year of requests.
"""
