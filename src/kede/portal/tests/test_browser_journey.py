"""The foundation's journey in a real browser: Debian's Chromium driven by Playwright.

A reader finds a book, asks for a chapter, the holding library supplies it, the reader gets a
mail and downloads the copy; and the ways that journey can end otherwise. Every step goes
through the pages, as people use them; only the background worker is run by the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

# Playwright's sync API keeps an event loop running in this thread; the ORM calls the tests
# make between browser steps are plain synchronous code all the same.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import pytest
from django.core import mail
from django.utils import timezone, translation
from playwright.sync_api import Browser, Page, expect, sync_playwright

from kede.accounts.models import User
from kede.conftest import PASSWORD, Network, pdf_bytes
from kede.core.runtime import run_pending_tasks
from kede.ill import services
from kede.ill.models import Request

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path("/tmp/kede-shots")  # noqa: S108 — screenshots to look at, outside the repository
BOOK = "The making of the English working class"

OpenPage = Callable[[User], Page]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser, live_server, network: Network) -> Iterator[OpenPage]:
    """A fresh browser (its own cookies) for one person, switched to English and logged in."""
    contexts = []

    def open_as(user: User) -> Page:
        # Accept-Language zh-CN: the UI's default language, as most of its readers' browsers ask.
        context = browser.new_context(
            base_url=live_server.url, locale="zh-CN", accept_downloads=True
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        switch_to_english(page)
        log_in(page, user)
        return page

    yield open_as
    for context in contexts:
        context.close()


# ---- steps ----------------------------------------------------------------------------------


def switch_to_english(page: Page) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="中文")).to_be_visible()


def log_in(page: Page, user: User) -> None:
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("header .who")).to_have_text(user.shown_name)


def ask_for_a_chapter(page: Page, *, title: str = "Standards and experiences") -> str:
    """Search, open the title, fill the citation form and send it; return the request number."""
    header = page.get_by_role("banner")
    header.get_by_role("searchbox", name="Search the union catalogue").fill("working")
    header.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("1 result for “working”")
    page.get_by_role("link", name=BOOK).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(BOOK)
    holders = page.get_by_role("table")
    expect(holders).to_contain_text("FDU Library")
    expect(holders).to_contain_text("SCU Library")
    page.get_by_role("link", name="Ask for a copy of an article or chapter").click()
    expect(page.get_by_label("Journal or book")).to_have_value(BOOK)
    page.get_by_label("Article or chapter title").fill(title)
    page.get_by_label("Pages").fill("189-212")
    page.get_by_label("Year").fill("1963")
    page.get_by_role("button", name="Send request").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^Request KD\d{10}\s+Sent to a supplying library$"))
    number = re.search(r"KD\d{10}", heading.inner_text()).group()
    expect(page.get_by_role("status")).to_have_text(f"Request {number} sent.")
    return number


def open_incoming(page: Page, number: str) -> None:
    """From anywhere, go to the workbench and open the request from the incoming queue."""
    page.get_by_role("link", name="Workbench").click()
    row = page.locator("#incoming").get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("USST Library")
    expect(row).to_contain_text("To review")
    row.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Request {number}")


def refuse(page: Page, reason: str, outcome: str, note: str = "") -> None:
    page.get_by_label("Why it cannot be supplied").select_option(label=reason)
    if note:
        page.locator("#refuse-form").get_by_label("Note").fill(note)
    page.get_by_role("button", name="Answer: cannot supply").click()
    expect(page.get_by_role("status")).to_have_text(f"Answered: cannot supply. {outcome}")
    expect(page.locator("h1 .state")).to_have_text("Cannot supply")


def submit_through_services(network: Network, title: str = "Exploitation") -> Request:
    return services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title=title, container_title=BOOK, pages="1-20"),
        work=network.work,
    )


# ---- tests ----------------------------------------------------------------------------------


def test_reader_gets_a_copy_from_search_to_download(open_page, network, tmp_path):
    # given a reader of USST, which holds no copy of the book that FDU and SCU hold
    reader = open_page(network.readers["USST"])

    # when the reader finds the book and asks for a chapter of it
    number = ask_for_a_chapter(reader)

    # then the request page shows the request, sent on
    expect(reader.get_by_text("Standards and experiences")).to_be_visible()
    expect(reader.locator("dl.facts")).to_contain_text("189-212")

    # when FDU's staff (first in the rota: same region) find it in their queue and supply it
    staff = open_page(network.staff["FDU"])
    staff.get_by_role("link", name="Workbench").click()
    expect(staff.locator("#incoming")).to_contain_text(number)
    SHOTS.mkdir(exist_ok=True)
    staff.screenshot(path=SHOTS / "staff-workbench.png", full_page=True)
    open_incoming(staff, number)
    staff.get_by_role("button", name="Will supply").click()
    expect(staff.get_by_role("status")).to_have_text(f"You will supply request {number}.")
    expect(staff.locator("h1 .state")).to_have_text("Will supply")
    copy = tmp_path / "chapter.pdf"
    copy.write_bytes(pdf_bytes())
    staff.get_by_label("Copy (PDF)").set_input_files(copy)
    staff.get_by_role("button", name="Deliver to the reader").click()
    expect(staff.get_by_role("status")).to_have_text("Copy delivered; the reader has been told.")
    expect(staff.locator("h1 .state")).to_have_text("Delivered")

    # and the worker runs the queued tasks
    assert run_pending_tasks() >= 1

    # then the reader has a mail with the request number and a download link
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [network.readers["USST"].email]
    assert number in message.subject
    assert number in message.body
    link = re.search(r"https?://\S+/files/\d+/\S+/", message.body).group()

    # when the reader (logged in) follows the link (through location, not goto(), which
    # reports a response that turns into a download as a failed navigation)
    with reader.expect_download() as download_info:
        reader.evaluate("path => { window.location.href = path }", urlsplit(link).path)
    download = download_info.value

    # then the PDF arrives
    assert download.suggested_filename == f"{number}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF-")

    # and the request page says it is complete, with every step in its history
    reader.get_by_role("link", name="My requests").click()
    reader.get_by_role("link", name=number).click()
    expect(reader.locator("h1 .state")).to_have_text("Completed")
    expect(reader.locator("ol.timeline li")).to_contain_text(
        [
            "Request submitted",
            "Sent to a supplying library",
            "The supplying library is preparing the copy",
            "Copy ready to download",
            "Copy downloaded: request completed",
        ]
    )
    expect(reader.get_by_role("link", name="Download PDF")).to_be_visible()
    expect(reader.get_by_text("4 downloads left")).to_be_visible()
    reader.screenshot(path=SHOTS / "reader-request.png", full_page=True)
    assert Request.objects.get(number=number).state == "completed"


def test_reader_cancels_before_it_is_supplied(open_page, network):
    # given a request the reader has just sent
    reader = open_page(network.readers["USST"])
    number = ask_for_a_chapter(reader)

    # when the reader cancels it from the request page
    reader.get_by_label("Reason (optional)").fill("Found it in our own library")
    reader.get_by_role("button", name="Cancel this request").click()

    # then the page says it is cancelled, and it can no longer be cancelled
    expect(reader.get_by_role("status")).to_have_text("Request cancelled.")
    expect(reader.locator("h1 .state")).to_have_text("Cancelled")
    expect(reader.get_by_role("button", name="Cancel this request")).to_have_count(0)
    last_step = reader.locator("ol.timeline li").last
    expect(last_step).to_contain_text("Request cancelled")
    expect(last_step).to_contain_text("Found it in our own library")

    # and FDU no longer has it waiting for an answer, only among the cancelled
    staff = open_page(network.staff["FDU"])
    staff.get_by_role("link", name="Workbench").click()
    expect(staff.locator("#incoming")).not_to_contain_text(number)
    expect(staff.locator("#incoming")).to_contain_text("Nothing here.")
    staff.get_by_label("Show", exact=True).select_option(label="Cancelled by requester")
    expect(staff).to_have_url(re.compile(r"\?state=cancelled$"))
    expect(staff.locator("#incoming").get_by_role("row").filter(has_text=number)).to_contain_text(
        "Cancelled by requester"
    )
    request = Request.objects.get(number=number)
    assert request.state == "cancelled"
    assert request.supplies.get().state == "cancelled"


def test_supplier_cannot_supply_and_request_moves_on(open_page, network):
    # given a request of a USST reader, sent to FDU
    number = submit_through_services(network).number

    # when FDU answers that it cannot supply it: not on shelf
    fdu = open_page(network.staff["FDU"])
    open_incoming(fdu, number)
    refuse(
        fdu,
        "Not on shelf",
        "The request goes to the next library that holds it.",
        note="On loan until June",
    )

    # then the request moves on to SCU, whose staff find it in their queue
    scu = open_page(network.staff["SCU"])
    open_incoming(scu, number)

    # when SCU cannot supply it either
    refuse(
        scu,
        "Too fragile or damaged to copy",
        "No other library can supply it; the reader has been told.",
    )

    # then the reader sees it could not be supplied, and why
    reader = open_page(network.readers["USST"])
    reader.get_by_role("link", name="My requests").click()
    row = reader.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("Could not be supplied")
    row.get_by_role("link", name=number).click()
    expect(reader.locator("h1 .state")).to_have_text("Could not be supplied")
    expect(reader.locator("ol.timeline li")).to_contain_text(
        [
            "Request submitted",
            "Sent to a supplying library: FDU Library",
            "Sent to the next library that holds it: SCU Library",
            "No library could supply it",
        ]
    )
    refusals = reader.locator("section").filter(
        has=reader.get_by_role("heading", name="Libraries that could not supply it")
    )
    expect(refusals.get_by_role("listitem")).to_have_text(
        [
            "FDU Library: Not on shelf — On loan until June",
            "SCU Library: Too fragile or damaged to copy",
        ]
    )
    expect(reader.get_by_role("button", name="Cancel this request")).to_have_count(0)
    assert Request.objects.get(number=number).state == "unfilled"


def test_bad_form_input_gets_a_message_next_to_the_field(open_page, network):
    # given a reader on the request form for the book, in English
    reader = open_page(network.readers["USST"])
    reader.goto(f"/requests/new/?work={network.work.id}")

    # when they give an ISSN with a wrong check digit and a year with a letter in it
    send_bad_citation(reader, "en")

    # then each field says what is wrong with it, in English, keeping what they typed
    expect_bad_citation_messages(reader, "en")

    # when they switch to Chinese with the header button and make the same mistakes
    reader.get_by_role("button", name="中文").click()
    expect(reader.locator("html")).to_have_attribute("lang", "zh-hans")
    send_bad_citation(reader, "zh-hans")

    # then the messages are in Chinese
    expect_bad_citation_messages(reader, "zh-hans")

    # and nothing was created
    assert not Request.objects.exists()


def in_language(language: str, message: str, **params: object) -> str:
    """`message` as the pages show it in `language`."""
    with translation.override(language):
        text = translation.gettext(message)
    if language.startswith("zh"):
        assert re.search(r"[\u4e00-\u9fff]", text), f"not translated to Chinese: {message}"
    return text % params if params else text


def send_bad_citation(page: Page, language: str) -> None:
    page.get_by_label(in_language(language, "Article or chapter title")).fill("Standards")
    page.get_by_label("ISSN").fill("1234-5678")
    page.get_by_label(in_language(language, "Year")).fill("19x5")
    page.get_by_role("button", name=in_language(language, "Send request")).click()


def expect_bad_citation_messages(page: Page, language: str) -> None:
    issn = page.get_by_label("ISSN")
    year = page.get_by_label(in_language(language, "Year"))
    bad_issn = in_language(
        language,
        "“%(value)s” is not a valid ISSN: it has 8 characters, the last a check digit "
        "(e.g. 0028-0836).",
        value="1234-5678",
    )
    bad_year = in_language(
        language,
        "Give the year as four digits, between 1400 and %(max)s.",
        max=timezone.localdate().year + 1,
    )
    expect(page.locator(".field").filter(has=issn).locator(".error")).to_have_text(bad_issn)
    expect(page.locator(".field").filter(has=year).locator(".error")).to_have_text(bad_year)
    expect(page.locator(".error")).to_have_count(2)
    expect(issn).to_have_value("1234-5678")
    expect(year).to_have_value("19x5")
    expect(page.get_by_label(in_language(language, "Article or chapter title"))).to_have_value(
        "Standards"
    )


def test_upload_that_is_not_a_pdf_is_refused_with_a_reason(open_page, network, tmp_path):
    # given a request waiting at FDU
    number = submit_through_services(network).number
    staff = open_page(network.staff["FDU"])
    open_incoming(staff, number)

    # when the staff upload a text file renamed .pdf
    fake = tmp_path / "scan.pdf"
    fake.write_text("Notes on chapter 6, not the scan itself.\n")
    staff.get_by_label("Copy (PDF)").set_input_files(fake)
    staff.get_by_role("button", name="Deliver to the reader").click()

    # then the page says why, next to the file field, and the request is still to be answered
    file_field = staff.locator("#deliver-form .field").filter(has=staff.get_by_label("Copy (PDF)"))
    expect(file_field.locator(".error")).to_have_text(
        "“scan.pdf” is neither a PDF nor a TIFF, JPEG or PNG page scan."
    )
    expect(staff.locator("h1 .state")).to_have_text("To review")
    expect(staff.get_by_role("button", name="Deliver to the reader")).to_be_visible()
    request = Request.objects.get(number=number)
    assert request.state == "sent"
    assert request.supplies.get().state == "received"
    assert not request.copies.exists()
    assert run_pending_tasks() == 0
    assert mail.outbox == []
