"""`kede peers …`: the other ILL systems this node talks ISO 18626 with."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kede.ill.models import Peer, PeerVersion
from kede.ill.services import peer_register


class Command(BaseCommand):
    help = "Register and list ISO 18626 peers."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Add or update a peer by agency id.")
        add.add_argument("agency", metavar="TYPE:VALUE")
        add.add_argument("--url", required=True)
        add.add_argument("--version", default=PeerVersion.V1_2, choices=PeerVersion.values)
        add.add_argument("--name", default="")
        listing = sub.add_parser("list", help="List peers.")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        if opts["action"] == "add":
            try:
                peer = peer_register(
                    agency=opts["agency"], url=opts["url"], version=opts["version"],
                    name=opts["name"],
                )  # fmt: skip
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            self.stdout.write(f"{peer}\t{peer.version}\t{peer.url}")
            return
        rows = [
            {"agency": str(p), "url": p.url, "version": p.version, "name": p.name}
            for p in Peer.objects.filter(is_active=True).order_by("agency_type", "agency_value")
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            for row in rows:
                self.stdout.write(f"{row['agency']}\t{row['version']}\t{row['url']}")
