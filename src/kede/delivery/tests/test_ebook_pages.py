"""Through the pages: a reader finds the e-books their library or the consortium lends, borrows,
downloads, renews and returns; another library's reader sees none of it."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from kede.conftest import PASSWORD, pdf_bytes
from kede.delivery import ebooks
from kede.delivery.ebook_models import EbookHold, EbookLoan

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def titles(network):
    """One title the consortium lends (one copy), one only FDU lends."""
    shared = ebooks.ebook_title_add(title="Shared atlas", pdf=pdf_bytes(2))
    ebooks.ebook_licence_add(title=shared, copies=1, loan_days=7, renewals=1)
    fdu_only = ebooks.ebook_title_add(title="Fudan local gazetteer", pdf=pdf_bytes(2))
    ebooks.ebook_licence_add(title=fdu_only, holder=network["FDU"], copies=2)
    return shared, fdu_only


def test_the_list_shows_what_my_library_and_the_consortium_lend_and_nothing_else(
    client, network, titles
):
    # given a USST reader
    shared, fdu_only = titles
    login(client, network.readers["USST"])
    # when they open the e-books page and FDU's title
    page = client.get(reverse("portal:ebooks"))
    other = client.get(reverse("portal:ebook", args=[fdu_only.id]))
    # then the header links to it, the consortium's title is listed, FDU's is not there at all
    text = page.content.decode()
    assert page.status_code == 200
    assert reverse("portal:ebooks") in text
    assert shared.title in text
    assert fdu_only.title not in text
    assert other.status_code == 404
    # and an FDU reader sees both
    login(client, network.readers["FDU"])
    text = client.get(reverse("portal:ebooks")).content.decode()
    assert shared.title in text and fdu_only.title in text


def test_borrow_download_renew_and_return_through_the_pages(client, network, titles):
    # given a USST reader on the consortium title's page
    shared, _fdu_only = titles
    reader = network.readers["USST"]
    login(client, reader)
    # when they borrow it
    response = client.post(reverse("portal:ebook-borrow", args=[shared.id]), follow=True)
    loan = EbookLoan.objects.get(reader=reader)
    link = ebooks.ebook_link(loan)
    links_start = link.rstrip("/").rsplit("/", 1)[0] + "/"  # the token carries a timestamp
    # then the title page offers the download, renew and return
    text = response.content.decode()
    assert links_start in text
    assert reverse("portal:ebook-renew", args=[loan.id]) in text
    assert reverse("portal:ebook-return", args=[loan.id]) in text
    # and the link gives a stamped PDF, not to be cached
    download = client.get(link)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Cache-Control"] == "private, no-store"
    assert download.content[:5] == b"%PDF-"
    # when they renew once
    client.post(reverse("portal:ebook-renew", args=[loan.id]))
    assert EbookLoan.objects.get(pk=loan.pk).renewals_used == 1
    # and "My e-books" lists the loan
    mine = client.get(reverse("portal:my-ebooks")).content.decode()
    assert shared.title in mine and links_start in mine
    # when they return it, the link no longer works
    client.post(reverse("portal:ebook-return", args=[loan.id]))
    assert EbookLoan.objects.get(pk=loan.pk).state == "returned"
    assert client.get(link).status_code == 410


def test_another_reader_cannot_see_a_loan_or_use_its_link(client, network, titles):
    # given FDU's reader has borrowed FDU's title
    _shared, fdu_only = titles
    loan = ebooks.ebook_borrow(actor=network.readers["FDU"], title=fdu_only)
    link = ebooks.ebook_link(loan)
    # when an SCU reader tries the link and the loan's buttons
    login(client, network.readers["SCU"])
    download = client.get(link)
    renew = client.post(reverse("portal:ebook-renew", args=[loan.id]))
    give_back = client.post(reverse("portal:ebook-return", args=[loan.id]))
    mine = client.get(reverse("portal:my-ebooks")).content.decode()
    # then they are refused and the loan is untouched and unnamed
    assert download.status_code == 403
    assert renew.status_code == give_back.status_code == 404
    assert fdu_only.title not in mine
    loan.refresh_from_db()
    assert loan.state == "active" and loan.renewals_used == 0


def test_a_forged_or_expired_link_is_refused(client, network, titles):
    # given a loan whose period has run out
    shared, _fdu_only = titles
    reader = network.readers["USST"]
    loan = ebooks.ebook_borrow(actor=reader, title=shared)
    link = ebooks.ebook_link(loan)
    login(client, reader)
    forged = client.get(reverse("portal:ebook-download", args=[loan.id, "not-a-token"]))
    now = timezone.now()
    EbookLoan.objects.filter(pk=loan.pk).update(
        started_at=now - datetime.timedelta(days=8), due_at=now - datetime.timedelta(seconds=1)
    )
    # when the reader uses the real link
    expired = client.get(link)
    # then both are refused, and no PDF was handed out
    assert forged.status_code == 403
    assert expired.status_code == 410
    assert expired["Content-Type"].startswith("text/html")


def test_when_all_copies_are_out_the_page_offers_a_hold(client, network, titles):
    # given the consortium's only copy lent to USST
    shared, _fdu_only = titles
    ebooks.ebook_borrow(actor=network.readers["USST"], title=shared)
    login(client, network.readers["SCU"])
    # when an SCU reader opens the title and places a hold
    page = client.get(reverse("portal:ebook", args=[shared.id])).content.decode()
    client.post(reverse("portal:ebook-hold", args=[shared.id]))
    # then the page offered the hold, not the loan, and the reader is first in line
    assert reverse("portal:ebook-hold", args=[shared.id]) in page
    assert reverse("portal:ebook-borrow", args=[shared.id]) not in page
    hold = EbookHold.objects.get(reader=network.readers["SCU"])
    assert hold.state == "waiting" and ebooks.hold_position(hold) == 1
    # and leaving the waiting list works
    client.post(reverse("portal:ebook-hold-cancel", args=[hold.id]))
    hold.refresh_from_db()
    assert hold.state == "cancelled"


def test_the_pages_need_a_login_and_a_reader(client, network, titles):
    # when someone not logged in, then a librarian who is no reader, open the e-books
    anonymous = client.get(reverse("portal:ebooks"))
    login(client, network.staff["FDU"])
    staff = client.get(reverse("portal:ebooks"))
    # then the first is sent to log in, the second told only readers borrow
    assert anonymous.status_code == 302
    assert reverse("accounts:login") in anonymous["Location"]
    assert staff.status_code == 403
