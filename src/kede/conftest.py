"""Shared test scenarios, built through the real services as a centre would build them."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pytest
from django.utils import translation
from hypothesis import settings as hypothesis_settings
from pypdf import PdfWriter

from kede.accounts.models import ReaderCategory, Role, User
from kede.accounts.services import role_grant, user_create
from kede.catalog.marc import BibRecord
from kede.catalog.models import Work
from kede.catalog.services import catalog_load_records
from kede.consortium import services as consortium
from kede.consortium.models import Institution, InstitutionType, NetworkRole

PASSWORD = "test-pass-123"

# On CI the fuzzers replay the same examples every run, so a commit that was green stays green;
# on developers' machines they keep exploring new inputs.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@dataclass
class Network:
    institutions: dict[str, Institution]
    staff: dict[str, User]
    readers: dict[str, User]
    centre_admin: User
    region_admin: User
    work: Work  # held by FDU (east) and SCU (west), not by USST or WHU
    serial: Work  # held by WHU only

    def __getitem__(self, code: str) -> Institution:
        return self.institutions[code]


def make_user(username: str, **extra) -> User:
    return user_create(
        username=username,
        password=PASSWORD,
        email=f"{username}@example.org",
        full_name=extra.pop("full_name", username.title()),
        **extra,
    )


def build_network() -> Network:
    centre = consortium.consortium_ensure(code="test", name="测试联盟")
    for code, group in (("EAST", "east"), ("CENTRAL", "central"), ("SW", "west")):
        consortium.region_add(consortium=centre, code=code, name=code.title(), group=group)
    specs = [
        ("PKU", "EAST", InstitutionType.RESEARCH_UNIVERSITY, [NetworkRole.CENTRE_LIBRARY]),
        ("FDU", "EAST", InstitutionType.RESEARCH_UNIVERSITY, [NetworkRole.SERVICE_LIBRARY]),
        ("USST", "EAST", InstitutionType.UNDERGRADUATE_COLLEGE, [NetworkRole.MEMBER]),
        ("WHU", "CENTRAL", InstitutionType.RESEARCH_UNIVERSITY, [NetworkRole.REGIONAL_CENTRE]),
        ("SCU", "SW", InstitutionType.RESEARCH_UNIVERSITY, [NetworkRole.REGIONAL_CENTRE]),
        ("SASS", "SW", InstitutionType.NON_UNIVERSITY, [NetworkRole.MEMBER]),
    ]
    institutions = {
        code: consortium.institution_add(
            code=code, name=f"{code} Library", region_code=region, type=type_, roles=roles
        )
        for code, region, type_, roles in specs
    }
    staff, readers = {}, {}
    for code, inst in institutions.items():
        staff[code] = make_user(f"staff_{code.lower()}")
        role_grant(user=staff[code], institution=inst, role=Role.ILL_STAFF)
        readers[code] = make_user(f"reader_{code.lower()}")
        role_grant(
            user=readers[code],
            institution=inst,
            role=Role.READER,
            reader_category=ReaderCategory.PHD,
            department="History",
        )
    centre_admin = make_user("centre_admin")
    role_grant(user=centre_admin, institution=institutions["PKU"], role=Role.CENTRE_ADMIN)
    region_admin = make_user("region_admin")
    role_grant(user=region_admin, institution=institutions["SCU"], role=Role.REGION_ADMIN)

    book = BibRecord(
        local_id="b1",
        title="The making of the English working class",
        author="Thompson, E. P.",
        year="1963",
        isbns=["9780394703220"],
    )
    journal = BibRecord(local_id="s1", title="Past & present", issns=["0031-2746"], format="serial")
    holders = {"b1": ["FDU", "SCU"], "s1": ["WHU"]}
    catalog_load_records(
        records=[book, journal],
        holders=lambda bib: [institutions[c] for c in holders[bib.local_id]],
    )
    return Network(
        institutions=institutions,
        staff=staff,
        readers=readers,
        centre_admin=centre_admin,
        region_admin=region_admin,
        work=Work.objects.get(isbn="9780394703220"),
        serial=Work.objects.get(issn="0031-2746"),
    )


@pytest.fixture(autouse=True)
def _english_outside_pages():
    """Messages made outside a page (services, commands, tasks) read in English in tests, so
    tests can name them; pages choose their language per request, as in production."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_search_index(settings, tmp_path):
    """Each test its own search index: the database is rolled back after a test, an index
    on disk would not be."""
    settings.KEDE_SEARCH_DIR = tmp_path / "search-index"


@pytest.fixture
def network(db) -> Network:
    built = build_network()
    # Each test runs in a transaction that is rolled back, so nothing commits and the index
    # (written on commit) is filled here instead.
    from kede.catalog.indexing import rebuild

    rebuild()
    return built


def pdf_bytes(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def pdf() -> bytes:
    return pdf_bytes()


def submit_copy_request(network: Network, title: str = "Chapter 1", reader: str = "USST"):
    """A reader asks for a chapter of the network's book (held by FDU and SCU)."""
    from kede.ill import services

    return services.request_submit(
        actor=network.readers[reader],
        citation=services.Citation(title=title, container_title="The making"),
        work=network.work,
    )


def deliver_copy(network: Network, title: str = "Chapter 1"):
    """A USST reader's request, supplied by FDU with a real PDF: returns the request."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kede.ill import services

    request = submit_copy_request(network, title)
    services.supply_deliver(
        actor=network.staff["FDU"],
        supply=request.supplies.get(),
        upload=SimpleUploadedFile("c.pdf", pdf_bytes(), "application/pdf"),
    )
    return request
