"""`kede routing …`: the routing centre from the command line.

kede routing policy show [--service copy|loan] [--json]
kede routing policy set FILE.json [--service copy|loan] [--note TEXT]
kede routing explain REQUEST_NUMBER
kede routing partners [--service copy|loan] [--set CODE …]
kede routing stats rebuild
kede routing advance            # move on requests past their supplier's response time
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.consortium.models import Institution
from kede.ill.models import Request, ServiceType
from kede.routing import selectors, services
from kede.routing.models import LastResort


class Command(BaseCommand):
    help = "The routing centre: policies, partners, statistics, and why a request goes where."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        policy = sub.add_parser("policy", help="Show or set the ranking policy of a service.")
        policy_sub = policy.add_subparsers(dest="policy_action", required=True)
        show = policy_sub.add_parser("show", help="Print the policy in force.")
        show.add_argument("--service", choices=ServiceType.values, default=ServiceType.COPY)
        show.add_argument("--json", action="store_true", help="Only the policy, as JSON.")
        put = policy_sub.add_parser("set", help="Save a new version from a JSON file.")
        put.add_argument("file", help="JSON: {criteria: [{name, weight}, …], …}; - for stdin")
        put.add_argument("--service", choices=ServiceType.values, default=ServiceType.COPY)
        put.add_argument("--note", default="", help="Why it changes (kept in the history).")
        explain = sub.add_parser("explain", help="A request's rota, each score and why.")
        explain.add_argument("number", help="Request number, e.g. KD2611000042")
        partners = sub.add_parser("partners", help="Partners appended to every rota.")
        partners.add_argument("--service", choices=ServiceType.values, default=ServiceType.COPY)
        partners.add_argument("--set", nargs="*", metavar="CODE", help="Replace them, in order.")
        stats = sub.add_parser("stats", help="Learned supplier statistics.")
        stats.add_argument("stats_action", choices=["rebuild"])
        sub.add_parser("advance", help="Move on requests past their supplier's response time.")

    def handle(self, *args, **opts) -> None:
        action = opts["action"]
        if action == "policy":
            if opts["policy_action"] == "show":
                self._policy_show(opts["service"], as_json=opts["json"])
            else:
                self._policy_set(opts["file"], opts["service"], opts["note"])
        elif action == "explain":
            self._explain(opts["number"])
        elif action == "partners":
            self._partners(opts["service"], opts["set"])
        elif action == "stats":
            n = services.stats_rebuild()
            self.stdout.write(f"Statistics rebuilt from {n} ended attempts.")
        elif action == "advance":
            moved = services.supplies_advance_timed_out()
            self.stdout.write(f"{moved} requests moved on from a supplier that did not answer.")

    def _policy_show(self, service: str, *, as_json: bool) -> None:
        row, policy = selectors.active_policy(service)
        text = json.dumps(policy.to_config(), indent=2, ensure_ascii=False)
        if as_json:
            self.stdout.write(text)
            return
        if row is None:
            self.stdout.write(f"{service}: the default policy (none saved yet)")
        else:
            who = row.edited_by.username if row.edited_by else "command line"
            self.stdout.write(
                f"{service}: version {row.version}, saved {row.edited_at:%Y-%m-%d %H:%M} by {who}"
                + (f" — {row.note}" if row.note else "")
            )
        self.stdout.write(text)

    def _policy_set(self, file: str, service: str, note: str) -> None:
        try:
            text = self.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            row = services.policy_save(actor=None, service_type=service, config=text, note=note)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{service}: version {row.version} saved; it applies to new requests.")

    def _explain(self, number: str) -> None:
        try:
            request = selectors.request_by_number(number.strip().upper())
        except Request.DoesNotExist:
            raise CommandError(f"No request {number!r}") from None
        plan = services.rota_plan_for(request)
        view = selectors.plan_view(request, plan)
        version = f"version {view.policy_version}" if view.policy_version else "the default policy"
        self.stdout.write(
            f"{request.number} ({request.service_type}) from {request.requester.code}: "
            f"{view.holders} holders, ranked by {version}; rota version {plan.version}"
            + (" (set by the centre)" if plan.overridden else "")
        )
        if not view.rows:
            self.stdout.write("  no library can be asked: " + selectors.no_candidate_message(plan))
        for row in view.rows:
            score = f"{row.score:.3f}" if row.score is not None else "—"
            asked = (
                f" [{row.supply.state}{': ' + row.supply.reason if row.supply.reason else ''}]"
                if row.supply
                else ""
            )
            self.stdout.write(
                f"{row.position:>3}. {row.institution.code} ({row.kind}) score {score}{asked}"
            )
            for c in row.criteria:
                self.stdout.write(
                    f"       {c.label}: {c.points:.3f} = {c.share:.2f} × {c.value:.2f} — {c.reason}"
                )
        for e in view.excluded:
            self.stdout.write(f"  not asked: {e.code} {e.reason}")

    def _partners(self, service: str, codes: list[str] | None) -> None:
        if codes is not None:
            wanted = [c.strip().upper() for c in codes]
            found = {i.code: i for i in Institution.objects.filter(code__in=wanted)}
            missing = [c for c in wanted if c not in found]
            if missing:
                raise CommandError(f"No institution {missing[0]!r}")
            services.partners_set(service_type=service, institutions=[found[c] for c in wanted])
        rows = LastResort.objects.filter(service_type=service).select_related("institution")
        self.stdout.write(
            f"{service}: " + (", ".join(r.institution.code for r in rows) or "no partners")
        )
