"""`kede consortium …`: onboard and list members from a script."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.consortium import selectors, services
from kede.consortium.models import InstitutionType, NetworkRole, RegionGroup


class Command(BaseCommand):
    help = "Manage the consortium: regions and member institutions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        inst = sub.add_parser("add-institution", help="Add or update a member institution.")
        inst.add_argument("code")
        inst.add_argument("--name", required=True)
        inst.add_argument("--name-en", default="")
        inst.add_argument("--region", required=True, help="Region code.")
        inst.add_argument(
            "--type", default=InstitutionType.UNDERGRADUATE_COLLEGE, choices=InstitutionType.values
        )
        inst.add_argument(
            "--role",
            action="append",
            dest="roles",
            choices=NetworkRole.values,
            help="Network role; repeat for several (default: member).",
        )
        inst.add_argument(
            "--agency",
            action="append",
            default=[],
            metavar="TYPE:VALUE",
            help="Agency id other ILL systems address it by, e.g. ISIL:CN-123; repeatable.",
        )

        region = sub.add_parser("add-region", help="Add or update a region.")
        region.add_argument("code")
        region.add_argument("--name", required=True)
        region.add_argument("--name-en", default="")
        region.add_argument("--group", required=True, choices=RegionGroup.values)
        region.add_argument("--consortium", default="kede")

        listing = sub.add_parser("list", help="List member institutions.")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        try:
            getattr(self, "_" + opts["action"].replace("-", "_"))(opts)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    def _add_institution(self, opts: dict) -> None:
        agencies = [services.parse_agency(a) for a in opts["agency"]]
        institution = services.institution_add(
            code=opts["code"],
            name=opts["name"],
            name_en=opts["name_en"],
            region_code=opts["region"],
            type=opts["type"],
            roles=opts["roles"],
            agencies=agencies,
        )
        self.stdout.write(f"{institution.code}\t{institution.name}\t{institution.region.code}")

    def _add_region(self, opts: dict) -> None:
        consortium = services.consortium_ensure(code=opts["consortium"], name=opts["consortium"])
        region = services.region_add(
            consortium=consortium,
            code=opts["code"],
            name=opts["name"],
            name_en=opts["name_en"],
            group=opts["group"],
        )
        self.stdout.write(f"{region.code}\t{region.name}\t{region.group}")

    def _list(self, opts: dict) -> None:
        rows = [
            {
                "code": i.code,
                "name": i.name,
                "name_en": i.name_en,
                "region": i.region.code,
                "type": i.type,
                "roles": sorted(r.role for r in i.roles.all()),
                "agency_ids": sorted(str(a) for a in i.agency_ids.all()),
            }
            for i in selectors.institutions_active().prefetch_related("roles", "agency_ids")
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['code']}\t{row['region']}\t{row['type']}\t{','.join(row['roles'])}\t"
                f"{','.join(row['agency_ids'])}\t{row['name']}"
            )
