"""Pay-per-view end to end: the centre loads a vendor's price list and PDFs, a reader sees the
price and what their library pays, confirms, downloads at once; the charges wait for billing."""

import io
import threading
import zipfile
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from kede.conftest import PASSWORD, pdf_bytes
from kede.delivery import ppv
from kede.delivery import ppv_services as services
from kede.delivery.ppv_models import (
    PpvCharge,
    PpvDownloadLog,
    PpvPurchase,
    PpvStatus,
    VendorOffer,
)
from kede.delivery.ppv_tasks import complete_ppv_purchase

pytestmark = pytest.mark.django_db

PRICES = """doi,issn,journal,title,year,volume,issue,pages,price,file
10.5555/pp.243,0031-2746,Past & present,The moral economy revisited,2019,243,1,3-40,25.00,moral.pdf
,0031-2746,Past & present,"Silk, tea and the Canton trade",2021,250,1,61-98,60,silk.pdf
10.5555/bad,,,No price here,2020,,,,"12,50",none.pdf
,,,Damaged scan,2020,,,,5.00,damaged.pdf
"""


def files(**extra: bytes) -> dict:
    pdfs = {"moral.pdf": pdf_bytes(3), "silk.pdf": pdf_bytes(2), "damaged.pdf": b"%PDF-1.4 junk"}
    pdfs.update(extra)
    return {name: (lambda data=data: data) for name, data in pdfs.items()}


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the pages' English, to name it
    return client


@pytest.fixture
def vendor(network):
    """A vendor on sale, and the consortium paying half of each article, at most ¥20."""
    report = services.ppv_vendor_load(
        actor=network.centre_admin,
        code="demopub",
        name="Demo Press",
        prices=PRICES.encode(),
        files=files(),
    )
    services.ppv_policy_set(
        actor=network.centre_admin, institution=None, percent=Decimal(50), cap=Decimal(20)
    )
    return report


def offer(ref: str = "moral.pdf") -> VendorOffer:
    return VendorOffer.objects.get(ref=ref)


def reload_vendor(prices: str) -> services.LoadReport:
    """The vendor sends a new price list."""
    return services.ppv_vendor_load(
        actor=None, code="DEMOPUB", name="Demo Press", prices=prices.encode(), files=files()
    )


def buy(reader, ref: str = "moral.pdf") -> services.PurchaseResult:
    shown = services.ppv_offer_shown(actor=reader, offer_id=offer(ref).id)
    return services.ppv_purchase(actor=reader, token=shown.token)


# ---- the centre loads a vendor ---------------------------------------------------------------


def test_good_rows_go_on_sale_and_each_bad_row_is_reported_with_its_place(network, vendor):
    # then the two good rows are on sale with their PDFs, nothing else
    assert vendor.applied and vendor.loaded == 2
    assert set(VendorOffer.objects.values_list("ref", flat=True)) == {"moral.pdf", "silk.pdf"}
    assert offer().price == Decimal("25.00") and offer().file_pages == 3
    assert default_storage.exists(offer().file.name)
    # and the centre is told which rows were refused, where and why
    with translation.override("en"):
        problems = vendor.problems()
    assert vendor.rejected == 2
    assert any("Row 4" in p and "price" in p and "12,50" in p for p in problems)
    assert any("Row 5" in p and "file" in p and "damaged" in p for p in problems)


def test_loading_again_withdraws_what_is_left_out_and_reprices_the_rest(network, vendor):
    # when the vendor's new list has only one article, at a new price
    report = reload_vendor(
        "title,price,file,doi\nThe moral economy revisited,30,moral.pdf,10.5555/pp.243\n"
    )
    # then it is on sale at the new price, and the other is withdrawn, not deleted
    assert (report.loaded, report.withdrawn) == (1, 1)
    assert offer().price == Decimal("30.00") and offer().active
    assert not offer("silk.pdf").active


def test_a_list_without_one_good_row_changes_nothing(network, vendor):
    report = reload_vendor("title,price,file\nA,free,moral.pdf\n")
    assert not report.applied and report.rejected == 1
    assert VendorOffer.objects.filter(active=True).count() == 2


def test_a_list_that_cannot_be_read_is_refused_saying_why(network):
    with pytest.raises(ValidationError) as exc:
        services.ppv_vendor_load(
            actor=None, code="X", name="X", prices=b"title,price\nA,1\n", files={}
        )
    assert "file" in exc.value.message_dict["prices"][0]


def test_only_the_centre_loads_vendors(network):
    for who in (network.readers["USST"], network.staff["FDU"], network.region_admin):
        with pytest.raises(PermissionDenied):
            services.ppv_vendor_load(
                actor=who, code="X", name="X", prices=PRICES.encode(), files=files()
            )
    assert not VendorOffer.objects.exists()


def test_the_command_loads_a_folder_and_reports_bad_rows(network, tmp_path, capsys):
    # given a price list and a folder of PDFs
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for name, read in files().items():
        (folder / name).write_bytes(read())
    (tmp_path / "prices.csv").write_text(PRICES, encoding="utf-8")
    # when the centre runs the command
    call_command("ppv", "load-vendor", "DEMOPUB", "--name", "Demo Press",
                 "--prices", str(tmp_path / "prices.csv"), "--files", str(folder))  # fmt: skip
    # then the good rows are on sale and the bad ones are listed
    captured = capsys.readouterr()
    assert "2 on sale" in captured.out and "2 rows rejected" in captured.out
    assert "Row 4, price" in captured.err
    assert VendorOffer.objects.filter(vendor__code="DEMOPUB", active=True).count() == 2
    # and a list with nothing usable fails the command
    (tmp_path / "bad.csv").write_text("title,price,file\nA,free,moral.pdf\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("ppv", "load-vendor", "DEMOPUB", "--name", "Demo Press",
                     "--prices", str(tmp_path / "bad.csv"), "--files", str(folder))  # fmt: skip


def test_the_command_sets_what_a_library_pays(network, vendor, capsys):
    call_command("ppv", "set-share", "USST", "--percent", "100", "--cap", "10")
    assert "USST: library pays 100" in capsys.readouterr().out
    shown = services.ppv_offer_shown(actor=network.readers["USST"], offer_id=offer().id)
    assert (shown.split.library_pays, shown.split.reader_pays) == (Decimal(10), Decimal(15))


# ---- a reader buys ---------------------------------------------------------------------------


def test_a_reader_sees_the_price_buys_and_downloads_at_once(client, network, vendor):
    # given a USST reader looking the article up by its DOI
    reader = network.readers["USST"]
    login(client, reader)
    found = client.get(reverse("portal:ppv-find"), {"doi": "https://doi.org/10.5555/PP.243"})
    # then they see the price, what their library pays and what they pay
    text = found.content.decode()
    assert "¥25.00" in text and "¥12.50" in text
    assert reverse("portal:ppv-confirm", args=[offer().id]) in text
    # when they open the confirm step and confirm
    confirm = client.get(reverse("portal:ppv-confirm", args=[offer().id]))
    assert "USST Library" in confirm.content.decode()
    token = confirm.context["shown"].token
    bought = client.post(
        reverse("portal:ppv-confirm", args=[offer().id]), {"quote": token}, follow=True
    )
    # then the purchase page offers the download at once
    purchase = PpvPurchase.objects.get(reader=reader)
    assert purchase.status == PpvStatus.DELIVERED
    link = services.ppv_link(purchase)
    assert link.rsplit("/", 2)[0] in bought.content.decode()
    download = client.get(link)
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, no-store"
    pdf = b"".join(download.streaming_content)
    # and the PDF is the article stamped for the reader: a cover page before its 3 pages
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 4
    assert PpvDownloadLog.objects.get(purchase=purchase).outcome == "ok"
    # and "My purchases" lists it with the download
    mine = client.get(reverse("portal:ppv-purchases")).content.decode()
    assert purchase.number in mine and link.rsplit("/", 2)[0] in mine


def test_the_charges_are_recorded_for_billing_when_the_file_is_delivered(network, vendor):
    # given a library that pays all of the price up to ¥20 (the consortium pays half)
    services.ppv_policy_set(
        actor=network.centre_admin, institution=network["FDU"], percent=Decimal(100),
        cap=Decimal(20),
    )  # fmt: skip
    # when an FDU reader and a USST reader buy the ¥60 article
    fdu = buy(network.readers["FDU"], "silk.pdf").purchase
    usst = buy(network.readers["USST"], "silk.pdf").purchase
    # then each charge says who pays how much, on which library's account, unsettled
    charges = {
        (c.purchase_id, c.payer): (c.institution.code, c.amount, c.settled_at)
        for c in PpvCharge.objects.all()
    }
    assert charges == {
        (fdu.id, "library"): ("FDU", Decimal("20.00"), None),
        (fdu.id, "reader"): ("FDU", Decimal("40.00"), None),
        (usst.id, "library"): ("USST", Decimal("20.00"), None),
        (usst.id, "reader"): ("USST", Decimal("40.00"), None),
    }
    assert (fdu.price, fdu.library_pays, fdu.reader_pays) == (Decimal(60), Decimal(20),
                                                              Decimal(40))  # fmt: skip


def test_a_library_paying_everything_leaves_the_reader_nothing_to_pay(network, vendor):
    services.ppv_policy_set(actor=None, institution=network["USST"], percent=Decimal(100))
    purchase = buy(network.readers["USST"]).purchase
    assert list(PpvCharge.objects.values_list("payer", "amount")) == [("library", Decimal(25))]
    assert purchase.reader_pays == 0


def test_confirming_twice_buys_once(client, network, vendor):
    # given a reader on the confirm page
    reader = network.readers["USST"]
    login(client, reader)
    url = reverse("portal:ppv-confirm", args=[offer().id])
    token = client.get(url).context["shown"].token
    # when they press confirm twice
    client.post(url, {"quote": token})
    second = client.post(url, {"quote": token}, follow=True)
    # then there is one purchase, charged once, and they are told they have it already
    assert PpvPurchase.objects.filter(reader=reader).count() == 1
    assert PpvCharge.objects.count() == 2
    assert second.redirect_chain[-1][0] == reverse(
        "portal:ppv-purchase", args=[PpvPurchase.objects.get().id]
    )
    assert "already" in second.content.decode()
    # and looking it up again shows their purchase, not a new price to pay
    page = client.get(reverse("portal:ppv-find"), {"doi": "10.5555/pp.243"}).content.decode()
    assert reverse("portal:ppv-purchase", args=[PpvPurchase.objects.get().id]) in page
    assert reverse("portal:ppv-confirm", args=[offer().id]) not in page


def test_once_the_file_is_used_up_the_reader_may_buy_again(network, vendor, settings):
    settings.KEDE_DOWNLOAD_LIMIT = 1
    reader = network.readers["USST"]
    first = buy(reader).purchase
    token = services.ppv_link(first).rstrip("/").rsplit("/", 1)[-1]
    services.ppv_download(actor=reader, purchase_id=first.id, token=token, ip=None)
    with pytest.raises(services.PpvDownloadRefused) as exc:
        services.ppv_download(actor=reader, purchase_id=first.id, token=token, ip=None)
    assert exc.value.code == "used_up"
    again = buy(reader)
    assert again.new and again.purchase.repeat == 1
    assert PpvCharge.objects.filter(payer="reader").count() == 2


def test_nobody_else_gets_the_file_or_sees_the_purchase(client, network, vendor):
    # given a USST reader's purchase
    purchase = buy(network.readers["USST"]).purchase
    link = services.ppv_link(purchase)
    # when a reader of another library, and the buyer's own library staff, try the link
    for other in (network.readers["FDU"], network.staff["USST"], network.centre_admin):
        login(client, other)
        refused = client.get(link)
        # then they get nothing, and the purchase does not exist for them
        assert refused.status_code == 403
        assert b"%PDF" not in refused.content
        assert client.get(reverse("portal:ppv-purchase", args=[purchase.id])).status_code == 404
    assert set(PpvDownloadLog.objects.values_list("outcome", flat=True)) == {"not_yours"}
    assert PpvPurchase.objects.get().downloads == 0


def test_a_quote_is_the_readers_own_and_a_tampered_one_is_refused(network, vendor):
    shown = services.ppv_offer_shown(actor=network.readers["USST"], offer_id=offer().id)
    for who, token in ((network.readers["FDU"], shown.token), (network.readers["USST"], "x:y")):
        with pytest.raises(ValidationError) as exc:
            services.ppv_purchase(actor=who, token=token)
        assert exc.value.code == "bad_quote"
    assert not PpvPurchase.objects.exists()


def test_a_price_changed_since_it_was_shown_is_not_charged(client, network, vendor):
    # given a reader on the confirm page at ¥25
    login(client, network.readers["USST"])
    url = reverse("portal:ppv-confirm", args=[offer().id])
    token = client.get(url).context["shown"].token
    # when the vendor's price goes up before they confirm
    reload_vendor(PRICES.replace(",25.00,", ",40.00,"))
    response = client.post(url, {"quote": token}, follow=True)
    # then nothing is bought and the page shows the new price to confirm
    assert not PpvPurchase.objects.exists()
    text = response.content.decode()
    assert "price has changed" in text and "¥40.00" in text


def test_staff_who_are_not_readers_cannot_buy(client, network, vendor):
    login(client, network.staff["FDU"])
    assert client.get(reverse("portal:ppv-find")).status_code == 403
    assert client.get(reverse("portal:ppv-confirm", args=[offer().id])).status_code == 403
    with pytest.raises(ValidationError) as exc:
        services.ppv_purchase(actor=network.staff["FDU"], token="x")
    assert exc.value.code == "not_reader"


def test_a_request_whose_article_is_on_sale_offers_to_buy_it(client, network, vendor):
    # given a reader's request for an article the vendor sells (by ISSN, volume and pages)
    from kede.ill import services as ill

    reader = network.readers["USST"]
    request = ill.request_submit(
        actor=reader,
        citation=ill.Citation(title="Silk, tea and the Canton trade", container_title="P&P",
                              issn="0031-2746", volume="250", pages="61-98"),
        work=network.serial,
    )  # fmt: skip
    login(client, reader)
    # when they open the request, and its "buy now" page
    detail = client.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert reverse("portal:ppv-request", args=[request.id]) in detail
    page = client.get(reverse("portal:ppv-request", args=[request.id])).content.decode()
    # then the price and the split are shown: the ¥60 article, the library pays at most ¥20
    assert "¥60.00" in page and "¥20.00" in page and "¥40.00" in page
    assert reverse("portal:ppv-confirm", args=[offer("silk.pdf").id]) in page
    # and another reader cannot open that page for someone else's request
    login(client, network.readers["FDU"])
    assert client.get(reverse("portal:ppv-request", args=[request.id])).status_code == 404


def test_an_article_nobody_sells_is_said_so(client, network, vendor):
    login(client, network.readers["USST"])
    page = client.get(reverse("portal:ppv-find"), {"doi": "10.9999/nothing"}).content.decode()
    assert "No vendor sells this article" in page


def test_a_journal_lists_its_articles_on_sale(client, network, vendor):
    login(client, network.readers["USST"])
    page = client.get(reverse("portal:ppv-find"), {"issn": "0031-2746"}).content.decode()
    assert "The moral economy revisited" in page and "Silk, tea and the Canton trade" in page
    assert "No vendor sells this article" not in page


# ---- nothing lost, nothing charged twice -----------------------------------------------------


def test_a_file_that_cannot_be_had_leaves_the_purchase_ordered_until_the_task_delivers_it(
    network, vendor
):
    # given a vendor file missing from storage when the reader buys
    stored = offer().file.name
    data = default_storage.open(stored).read()
    default_storage.delete(stored)
    purchase = buy(network.readers["USST"]).purchase
    # then the purchase is ordered, not delivered, and nobody is charged yet
    assert purchase.status == PpvStatus.ORDERED and purchase.vendor_order_ref
    assert not PpvCharge.objects.exists()
    # when the file is back and the safety-net task runs (twice)
    default_storage.save(stored, io.BytesIO(data))
    assert complete_ppv_purchase.call(purchase_id=purchase.id) == "delivered"
    assert complete_ppv_purchase.call(purchase_id=purchase.id) == "delivered"
    # then it is delivered, charged once
    purchase.refresh_from_db()
    assert purchase.status == PpvStatus.DELIVERED and purchase.is_available()
    assert PpvCharge.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_purchase_confirmed_but_never_ordered_is_finished_by_the_task(network, vendor):
    # given a purchase recorded just before the web process died (never ordered)
    reader = network.readers["USST"]
    shown = services.ppv_offer_shown(actor=reader, offer_id=offer().id)
    purchase, new = services._purchase_once(reader, shown.library, shown.offer, shown.split)
    assert new and purchase.status == PpvStatus.ORDERING
    # when the task queued with it runs
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(task_path__endswith="complete_ppv_purchase")
    assert queued.count() == 1
    queued.update(run_after=timezone.now())
    from kede.core.runtime import run_pending_tasks

    run_pending_tasks()
    # then the reader has the file, charged once
    purchase.refresh_from_db()
    assert purchase.status == PpvStatus.DELIVERED
    assert PpvCharge.objects.filter(purchase=purchase).count() == 2


def test_an_article_withdrawn_before_the_order_went_through_is_not_charged(network, vendor):
    reader = network.readers["USST"]
    shown = services.ppv_offer_shown(actor=reader, offer_id=offer().id)
    purchase, _new = services._purchase_once(reader, shown.library, shown.offer, shown.split)
    reload_vendor(PRICES.replace("moral.pdf", "other.pdf"))
    purchase = services.ppv_fulfil(purchase=purchase)
    assert (purchase.status, purchase.failure) == (PpvStatus.FAILED, "withdrawn")
    assert not PpvCharge.objects.exists()


def test_files_past_their_period_or_limit_are_deleted(network, vendor):
    import datetime

    from django.utils import timezone

    purchase = buy(network.readers["USST"]).purchase
    assert services.ppv_purge_expired() == 0
    assert services.ppv_purge_expired(timezone.now() + datetime.timedelta(days=365)) == 1
    purchase.refresh_from_db()
    assert purchase.deleted_at and not default_storage.exists(purchase.file.name)
    assert not purchase.is_available()


# ---- the centre's page -----------------------------------------------------------------------


def zip_of(pdfs: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, read in pdfs.items():
            archive.writestr(f"scans/{name}", read())
    return out.getvalue()


def test_the_centre_uploads_a_price_list_and_a_zip_and_sees_the_refused_rows(client, network):
    from django.core.files.uploadedfile import SimpleUploadedFile

    login(client, network.centre_admin)
    response = client.post(
        reverse("portal:ppv-manage"),
        {
            "code": "DEMOPUB",
            "name": "Demo Press",
            "currency": "CNY",
            "prices": SimpleUploadedFile("prices.csv", PRICES.encode(), "text/csv"),
            "files": SimpleUploadedFile("pdfs.zip", zip_of(files()), "application/zip"),
        },
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert VendorOffer.objects.filter(active=True).count() == 2
    assert "Row 4, price" in text and "Row 5, file" in text
    # and nobody else may use the page
    login(client, network.readers["USST"])
    assert client.get(reverse("portal:ppv-manage")).status_code == 403


def test_the_core_protocol_is_what_the_database_connector_implements(network, vendor):
    connector = services.connector_for(offer().vendor)
    quote = connector.quote(ppv.ArticleCitation(title="the moral economy revisited", year="2019"))
    assert quote is not None and quote.offer_ref == "moral.pdf"
    order = connector.order(quote, "PPV-test")
    assert connector.fetch(order)[:5] == b"%PDF-"


def race(*actions):
    """Run the actions in threads released together; return (results, errors)."""
    barrier = threading.Barrier(len(actions))
    results, errors = [], []

    def run(action):
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_at_the_same_moment_buy_once(network, vendor):
    # given a reader whose browser sends the confirmation twice at once
    reader = network.readers["USST"]
    token = services.ppv_offer_shown(actor=reader, offer_id=offer().id).token
    # when both arrive together
    results, errors = race(
        lambda: services.ppv_purchase(actor=reader, token=token),
        lambda: services.ppv_purchase(actor=reader, token=token),
    )
    # then both are answered with the one purchase, delivered and charged once
    assert errors == []
    assert len({r.purchase.id for r in results}) == 1
    assert sorted(r.new for r in results) == [False, True]
    assert PpvPurchase.objects.get().status == PpvStatus.DELIVERED
    assert PpvCharge.objects.count() == 2


def test_the_demo_has_a_vendor_whose_articles_a_reader_can_buy(network, capsys):
    # given the demo's vendor, loaded twice
    assert services.ppv_demo_load() == 3
    assert services.ppv_demo_load() == 0
    call_command("ppv", "list", "--json")
    assert '"on_sale": 3' in capsys.readouterr().out
    # when a reader buys the Chinese article by its DOI
    reader = network.readers["SASS"]
    shown = services.ppv_quote(
        actor=reader, citation=ppv.ArticleCitation(doi="10.5555/kede.demo.3")
    )
    assert shown is not None and shown.offer.title == "川西高原的茶马古道"
    assert (shown.price, shown.library_pays, shown.reader_pays) == ("¥12.00", "¥6.00", "¥6.00")
    purchase = services.ppv_purchase(actor=reader, token=shown.token).purchase
    # then it is theirs to download
    assert purchase.is_available()
