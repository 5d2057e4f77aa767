"""A demo consortium: three regions, fourteen libraries of every kind, staff and readers for each,
and a catalogue of real records with holdings spread over the members. Built only through the
services, as a centre would build it."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from kede.accounts.models import ReaderCategory, Role, User
from kede.accounts.services import reader_register, role_grant, user_create
from kede.catalog.marc import BibRecord
from kede.catalog.services import LoadReport, catalog_load_file
from kede.consortium import services as consortium
from kede.consortium.models import Institution, InstitutionType, NetworkRole

DEMO_PASSWORD = "kede-demo"  # noqa: S105 — printed at start-up on purpose: it is a demo
BUNDLED_MARC = Path(__file__).parent / "demo_data"
# Real record sets to load when the shared data folder is beside the checkout.
SHARED_MARC_SETS = ["marc2bibframe2", "marc-to-argot", "bibdata-princeton", "traject", "pymarc"]

T = InstitutionType
N = NetworkRole

REGIONS = [
    ("EAST", "华东区域", "East China", "east"),
    ("CENTRAL", "华中区域", "Central China", "central"),
    ("SW", "西南区域", "South-west China", "west"),
]

# code, name, English name, region, type, roles, agency (ISIL), holdings weight
INSTITUTIONS = [
    ("PKU", "北京大学图书馆", "Peking University Library", "EAST", T.RESEARCH_UNIVERSITY,
     [N.CENTRE_LIBRARY, N.SERVICE_LIBRARY], "CN-100871-L", 10),
    ("FDU", "复旦大学图书馆", "Fudan University Library", "EAST", T.RESEARCH_UNIVERSITY,
     [N.SERVICE_LIBRARY, N.REGIONAL_CENTRE], "CN-200433-F", 8),
    ("USST", "上海理工大学图书馆", "University of Shanghai for Science and Technology Library",
     "EAST", T.UNDERGRADUATE_COLLEGE, [N.MEMBER], "CN-200093-U", 2),
    ("SHL", "上海图书馆", "Shanghai Library", "EAST", T.PUBLIC_LIBRARY,
     [N.EXTERNAL_SUPPLIER], "CN-200031-S", 6),
    ("NSTL", "国家科技图书文献中心", "National Science and Technology Library", "EAST",
     T.NATIONAL_PARTNER, [N.EXTERNAL_SUPPLIER], "CN-100038-N", 5),
    ("WHU", "武汉大学图书馆", "Wuhan University Library", "CENTRAL", T.RESEARCH_UNIVERSITY,
     [N.SERVICE_LIBRARY, N.REGIONAL_CENTRE], "CN-430072-W", 7),
    ("HBUE", "湖北经济学院图书馆", "Hubei University of Economics Library", "CENTRAL",
     T.UNDERGRADUATE_COLLEGE, [N.MEMBER], "CN-430205-H", 2),
    ("WHVC", "武汉职业技术学院图书馆", "Wuhan Polytechnic Library", "CENTRAL",
     T.VOCATIONAL_COLLEGE, [N.MEMBER], "CN-430074-V", 1),
    ("SCU", "四川大学图书馆", "Sichuan University Library", "SW", T.RESEARCH_UNIVERSITY,
     [N.SERVICE_LIBRARY, N.REGIONAL_CENTRE], "CN-610065-S", 8),
    ("SICNU", "四川师范大学图书馆", "Sichuan Normal University Library", "SW",
     T.UNDERGRADUATE_COLLEGE, [N.MEMBER], "CN-610066-N", 3),
    ("CDPC", "成都职业技术学院图书馆", "Chengdu Polytechnic Library", "SW",
     T.VOCATIONAL_COLLEGE, [N.MEMBER], "CN-610041-C", 1),
    ("SCUJJ", "四川大学锦江学院图书馆", "Sichuan University Jinjiang College Library", "SW",
     T.PRIVATE_COLLEGE, [N.MEMBER], "CN-620860-J", 1),
    ("SASS", "四川省社会科学院文献中心", "Sichuan Academy of Social Sciences Documentation Centre",
     "SW", T.NON_UNIVERSITY, [N.MEMBER], "CN-610071-A", 2),
    ("CDPS", "中共成都市委党校图书馆", "Party School of the Chengdu Municipal Committee Library",
     "SW", T.NON_UNIVERSITY, [N.MEMBER], "CN-610110-P", 1),
]  # fmt: skip

READER_NAMES = ["李明", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄婷", "周杰", "吴敏",
                "徐涛", "孙丽", "马超", "朱红"]  # fmt: skip
CATEGORIES = [ReaderCategory.FACULTY, ReaderCategory.PHD, ReaderCategory.MASTERS]


@dataclass
class DemoAccount:
    username: str
    role: str
    institution: str


@dataclass
class DemoSummary:
    created: bool
    accounts: list[DemoAccount] = field(default_factory=list)
    catalogue: LoadReport = field(default_factory=LoadReport)


def marc_files(marc_dir: Path | None) -> list[Path]:
    if marc_dir is not None and marc_dir.is_dir():
        files: list[Path] = []
        for name in SHARED_MARC_SETS:
            folder = marc_dir / name
            if folder.is_dir():
                files += sorted(p for p in folder.iterdir() if p.suffix in {".mrc", ".xml"})
        if files:
            return files
    return sorted(BUNDLED_MARC.glob("*.xml.gz"))


def _holders_for(institutions: list[tuple[Institution, int]]):
    population = [inst for inst, _w in institutions]
    weights = [w for _inst, w in institutions]

    def holders(bib: BibRecord) -> list[Institution]:
        # Seeded by the record id: loading again spreads the same way.
        rng = random.Random(zlib.crc32(bib.local_id.encode()))  # noqa: S311 — not security
        count = rng.choice([1, 2, 2, 3, 3, 4])
        chosen: dict[str, Institution] = {}
        while len(chosen) < count:
            inst = rng.choices(population, weights)[0]
            chosen[inst.code] = inst
        return list(chosen.values())

    return holders


def demo_accounts() -> list[DemoAccount]:
    accounts = [DemoAccount("admin", "centre_admin", "PKU")]
    for code, *_rest in INSTITUTIONS:
        accounts.append(DemoAccount(f"staff.{code.lower()}", "ill_staff", code))
        accounts.append(DemoAccount(f"reader.{code.lower()}", "reader", code))
    accounts.append(DemoAccount("region.sw", "region_admin", "SCU"))
    return accounts


def _user(username: str, full_name: str, email: str, **extra) -> User:
    return user_create(
        username=username, password=DEMO_PASSWORD, email=email, full_name=full_name, **extra
    )


@transaction.atomic
def _build_network() -> list[tuple[Institution, int]]:
    centre = consortium.consortium_ensure(
        code="kede", name="可得文献共享联盟", name_en="Kede Library Sharing Consortium"
    )
    for code, name, name_en, group in REGIONS:
        consortium.region_add(consortium=centre, code=code, name=name, name_en=name_en, group=group)
    built = []
    for code, name, name_en, region, type_, roles, isil, weight in INSTITUTIONS:
        inst = consortium.institution_add(
            code=code,
            name=name,
            name_en=name_en,
            region_code=region,
            type=type_,
            roles=list(roles),
            agencies=[consortium.Agency("ISIL", isil)],
            proxy_search=N.CENTRE_LIBRARY in roles,
        )
        built.append((inst, weight))
    return built


@transaction.atomic
def _build_people(institutions: Iterable[Institution]) -> None:
    by_code = {i.code: i for i in institutions}
    admin = _user(
        "admin", "联盟中心管理员", "admin@kede.localhost", is_staff=True, is_superuser=True
    )
    role_grant(user=admin, institution=by_code["PKU"], role=Role.CENTRE_ADMIN)
    for n, (code, inst) in enumerate(by_code.items()):
        staff = _user(
            f"staff.{code.lower()}", f"{inst.name}馆际互借员", f"ill@{code.lower()}.kede.localhost"
        )
        role_grant(user=staff, institution=inst, role=Role.ILL_STAFF)
        reader = _user(
            f"reader.{code.lower()}",
            READER_NAMES[n % len(READER_NAMES)],
            f"reader@{code.lower()}.kede.localhost",
        )
        role_grant(
            user=reader,
            institution=inst,
            role=Role.READER,
            reader_category=CATEGORIES[n % len(CATEGORIES)],
            department="历史学院" if n % 2 else "经济学院",
        )
    region = _user("region.sw", "西南区域中心管理员", "region@scu.kede.localhost")
    role_grant(user=region, institution=by_code["SCU"], role=Role.REGION_ADMIN)
    reader_register(
        username="applicant.sicnu",
        password=DEMO_PASSWORD,
        email="applicant@sicnu.kede.localhost",
        full_name="何晓",
        institution=by_code["SICNU"],
        reader_category=ReaderCategory.MASTERS,
        department="外国语学院",
    )


def demo_load(*, marc_dir: Path | None = None) -> DemoSummary:
    """Build the demo consortium unless it is there already. Safe to run again."""
    if Institution.objects.filter(code="PKU").exists():
        return DemoSummary(created=False, accounts=demo_accounts())
    weighted = _build_network()
    _build_people(inst for inst, _w in weighted)
    from kede.delivery.ebooks import ebooks_demo_load
    from kede.delivery.ppv_services import ppv_demo_load

    ebooks_demo_load()
    ppv_demo_load()
    summary = DemoSummary(created=True, accounts=demo_accounts())
    holders = _holders_for(weighted)
    for path in marc_files(marc_dir):
        summary.catalogue.add(catalog_load_file(path=path, holders=holders))
    _load_demo_journal_and_articles()
    return summary


# eLife, held by two members from its first volume (2012) on, and 22 of its articles.
DEMO_JOURNAL_HOLDERS = ("PKU", "SCU")
DEMO_ARTICLES_FILE = Path(__file__).parent / "demo_data" / "articles__elife.csv"


def _demo_journal_record() -> bytes:
    import pymarc

    record = pymarc.Record(force_utf8=True)
    record.leader = record.leader[:6] + "as" + record.leader[8:]
    record.add_field(
        pymarc.Field(tag="001", data="demo-elife"),
        pymarc.Field(
            tag="022", indicators=["0", " "], subfields=[pymarc.Subfield("a", "2050-084X")]
        ),
        pymarc.Field(tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "eLife.")]),
        pymarc.Field(
            tag="260",
            indicators=[" ", " "],
            subfields=[
                pymarc.Subfield("a", "Cambridge :"),
                pymarc.Subfield("b", "eLife Sciences Publications,"),
                pymarc.Subfield("c", "2012-"),
            ],
        ),
        pymarc.Field(
            tag="866", indicators=["4", "1"], subfields=[pymarc.Subfield("a", "v.1- (2012-)")]
        ),
    )
    return record.as_marc()


def _load_demo_journal_and_articles() -> None:
    from kede.catalog.article_services import articles_load
    from kede.catalog.services import catalogue_load, default_source

    for code in DEMO_JOURNAL_HOLDERS:
        source = default_source(Institution.objects.get(code=code))
        catalogue_load(source=source, data=_demo_journal_record(), file_name="elife.mrc")
    articles_load(path=DEMO_ARTICLES_FILE)
