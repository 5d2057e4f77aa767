"""The HTTP API as a script or another system uses it: search with holders, works, the
directory, a reader's requests (made, read, cancelled), scoping, and the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.urls import reverse
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from kede.catalog import indexing
from kede.catalog.marc import BibRecord
from kede.catalog.services import catalog_load_records
from kede.conftest import submit_copy_request
from kede.ill.models import Request

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    """A script that reads English (the API follows Accept-Language)."""
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def indexed(network):
    indexing.rebuild()
    return network


def as_reader(api: APIClient, network, code: str = "USST") -> APIClient:
    api.force_authenticate(network.readers[code])
    return api


# ---- search ---------------------------------------------------------------------------------


def test_search_lists_hits_with_the_codes_of_their_holders(api, indexed):
    response = api.get(reverse("api:search"), {"q": "making English working class"})
    assert response.status_code == 200
    data = response.json()
    assert data["total"] >= 1
    hit = data["hits"][0]
    assert hit["id"] == indexed.work.id
    assert hit["title"] == "The making of the English working class"
    assert hit["holders"] == ["FDU", "SCU"]
    assert [(h["institution"], h["region"]) for h in hit["holdings"]] == [
        ("FDU", "EAST"),
        ("SCU", "SW"),
    ]
    assert data["levels"] == {"all": data["total"]}  # anonymous: no library, no region


def test_a_reader_sees_the_counts_at_each_level_and_can_narrow_to_their_region(api, indexed):
    # a USST reader (east): the book is held by FDU (east) and SCU (south-west)
    as_reader(api, indexed, "USST")
    data = api.get(reverse("api:search"), {"q": "working class"}).json()
    assert data["levels"] == {"library": 0, "region": 1, "all": 1}
    mine = api.get(reverse("api:search"), {"q": "working class", "level": "library"}).json()
    assert mine["total"] == 0 and mine["hits"] == []
    region = api.get(reverse("api:search"), {"q": "working class", "level": "region"}).json()
    assert [h["id"] for h in region["hits"]] == [indexed.work.id]
    both = api.get(reverse("api:search"), {"q": "x", "level": "region", "holder": "SCU"})
    assert both.status_code == 400 and "not both" in str(both.json()["level"])


def test_search_filters_by_holder_format_and_gives_facets(api, indexed):
    url = reverse("api:search")
    held = api.get(url, {"q": "past present", "holder": "whu", "facets": ["format"]}).json()
    assert [h["id"] for h in held["hits"]] == [indexed.serial.id]
    assert held["facets"]["format"] == [{"value": "serial", "count": 1}]
    elsewhere = api.get(url, {"q": "past present", "holder": "FDU"}).json()
    assert elsewhere["total"] == 0


def test_chinese_titles_are_found_in_traditional_or_simplified_characters(api, network):
    catalog_load_records(
        records=[BibRecord(local_id="c1", title="中国近代史", author="蒋廷黻", year="1938")],
        holders=lambda _bib: [network["SCU"]],
    )
    indexing.rebuild()
    for query in ("近代史", "中國近代史"):
        hits = api.get(reverse("api:search"), {"q": query}).json()["hits"]
        assert [h["title"] for h in hits] == ["中国近代史"], query
        assert hits[0]["holders"] == ["SCU"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({}, "q", "required"),
        ({"q": "x", "page_size": "500"}, "page_size", "less than or equal to 100"),
        ({"q": "x", "year_from": "2001", "year_to": "1990"}, "year_to", "before year_from"),
        ({"q": "x", "sort": "price"}, "sort", "not a valid choice"),
        ({"q": "x", "facets": "colour"}, "facets", "not a valid choice"),
        ({"q": "x", "level": "library"}, "level", "signed-in reader"),
    ],
)
def test_bad_search_parameters_are_refused_field_by_field(api, indexed, params, field, words):
    response = api.get(reverse("api:search"), params)
    assert response.status_code == 400
    assert words in str(response.json()[field])


# ---- works and the directory ----------------------------------------------------------------


def test_a_work_comes_with_every_holder_and_where_it_is_kept(api, network):
    data = api.get(reverse("api:work", args=[network.work.id])).json()
    assert data["isbn"] == "9780394703220"
    assert [h["institution"] for h in data["holdings"]] == ["FDU", "SCU"]
    assert {h["region"] for h in data["holdings"]} == {"EAST", "SW"}
    assert api.get(reverse("api:work", args=[999999])).status_code == 404


def test_errors_come_in_the_language_the_caller_accepts(network):
    chinese = APIClient(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert "必填" in str(chinese.get(reverse("api:search")).json()["q"])
    assert "required" in str(
        APIClient().get(reverse("api:search"), HTTP_ACCEPT_LANGUAGE="en").json()["q"]
    )


def test_the_directory_lists_the_members(api, network):
    rows = api.get(reverse("api:institutions")).json()
    assert [r["code"] for r in rows] == sorted(network.institutions)
    assert all(r["region"] for r in rows)


# ---- requests -------------------------------------------------------------------------------


def test_a_reader_makes_reads_and_cancels_a_request(api, network):
    as_reader(api, network)
    body = {
        "title": "Chapter 3: The moral economy",
        "container_title": "The making of the English working class",
        "pages": "45-67",
        "year": "1963",
        "work": network.work.id,
    }
    created = api.post(reverse("api:requests"), body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["number"].startswith("KD") and data["requester"] == "USST"
    assert data["service_type"] == "copy" and data["work"] == network.work.id
    request = Request.objects.get(id=data["id"])
    assert request.reader == network.readers["USST"] and request.supplies.count() == 1
    listed = api.get(reverse("api:requests")).json()
    assert [r["id"] for r in listed["results"]] == [data["id"]] and listed["total"] == 1
    assert api.get(reverse("api:request", args=[data["id"]])).json()["pages"] == "45-67"
    # asking for the same chapter again needs a confirmation
    again = api.post(reverse("api:requests"), body, format="json")
    assert again.status_code == 409
    assert [r["id"] for r in again.json()["earlier"]] == [data["id"]]
    assert Request.objects.count() == 1
    cancelled = api.post(reverse("api:request-cancel", args=[data["id"]]), {}, format="json")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    # a request already cancelled cannot be cancelled again
    twice = api.post(reverse("api:request-cancel", args=[data["id"]]), {}, format="json")
    assert twice.status_code == 409


def test_a_request_body_is_checked_as_the_request_page_checks_it(api, network):
    as_reader(api, network)
    response = api.post(
        reverse("api:requests"),
        {
            "title": "x",
            "year": "63",
            "pages": "45-67-89",
            "issn": "1234-5678",
            "service_type": "fax",
        },
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) >= {"service_type"}
    unplaced = api.post(reverse("api:requests"), {"title": "x"}, format="json").json()
    assert "journal or book" in unplaced["non_field_errors"][0]
    fixed = api.post(
        reverse("api:requests"), {"title": "x", "year": "63", "pages": "45-67-89"}, format="json"
    )
    assert fixed.status_code == 400
    assert "four digits" in str(fixed.json()["year"])
    assert "45-67" in str(fixed.json()["pages"])
    assert not Request.objects.exists()


def test_only_readers_of_a_member_library_may_ask(api, network):
    api.force_authenticate(network.staff["FDU"])
    body = {"title": "x", "container_title": "The making"}
    response = api.post(reverse("api:requests"), body, format="json")
    assert response.status_code == 403, response.json()
    assert "approved reader" in response.json()["detail"]


def test_requests_need_a_signed_in_caller(api, network):
    assert api.get(reverse("api:requests")).status_code in (401, 403)
    assert api.post(reverse("api:requests"), {"title": "x"}, format="json").status_code in (
        401,
        403,
    )


def test_a_reader_never_sees_another_readers_request(api, network):
    theirs = submit_copy_request(network, reader="SCU")
    as_reader(api, network, "USST")
    assert api.get(reverse("api:request", args=[theirs.id])).status_code == 404
    assert api.post(reverse("api:request-cancel", args=[theirs.id]), {}).status_code == 404
    assert api.get(reverse("api:requests")).json()["results"] == []


def test_library_staff_see_their_own_readers_requests_only(api, network):
    ours = submit_copy_request(network, "Ours", reader="USST")
    submit_copy_request(network, "Theirs", reader="SCU")
    api.force_authenticate(network.staff["USST"])
    rows = api.get(reverse("api:library-requests")).json()["results"]
    assert [r["id"] for r in rows] == [ours.id]
    # the supplying library (FDU) does not see USST's reader's request as a borrowing request
    api.force_authenticate(network.staff["FDU"])
    assert api.get(reverse("api:library-requests")).json()["results"] == []


def test_a_personal_token_signs_a_script_in(api, network):
    token = Token.objects.create(user=network.readers["USST"])
    submit_copy_request(network, "Mine", reader="USST")
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get(reverse("api:requests")).json()["total"] == 1
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api.get(reverse("api:requests")).status_code == 401


def test_a_session_post_needs_the_csrf_token(network):
    # signed in on the site, a page in another tab cannot post for the reader
    client = APIClient(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(network.readers["USST"])
    response = client.post(reverse("api:requests"), {"title": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# ---- the schema -----------------------------------------------------------------------------


def test_the_openapi_schema_is_valid_and_describes_every_endpoint(api, network):
    response = api.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = set(schema["paths"])
    assert {
        "/api/v1/search",
        "/api/v1/articles",
        "/api/v1/works/{work_id}",
        "/api/v1/institutions",
        "/api/v1/requests",
        "/api/v1/requests/{request_id}",
        "/api/v1/requests/{request_id}/cancel",
        "/api/v1/library/requests",
    } <= paths
    search = schema["paths"]["/api/v1/search"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"q", "level", "holder", "page_size"}
