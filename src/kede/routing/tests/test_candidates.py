"""Who a live request is sent to, and in what order: the pure core fed from the database."""

import datetime

import pytest
from django.utils import timezone

from kede.conftest import submit_copy_request
from kede.consortium.models import ClosedDay, ServiceProfile
from kede.ill import routing, services
from kede.routing import selectors
from kede.routing import services as routing_services
from kede.routing.models import RotaPlan, SupplierProfile

pytestmark = pytest.mark.django_db


def codes(institutions):
    return [i.code for i in institutions]


def plan_of(request):
    return RotaPlan.objects.get(request=request)


def test_holders_in_the_readers_region_come_first_and_the_plan_is_stored(network):
    # given a book held by FDU (east) and SCU (west)
    # when a USST (east) reader asks for a copy
    request = submit_copy_request(network)
    # then FDU is asked first, SCU next, and the rota is stored with the request
    assert codes(routing.candidate_suppliers(request)) == ["FDU", "SCU"]
    assert request.supplies.get().supplier.code == "FDU"
    plan = plan_of(request)
    assert plan.suppliers == [network["FDU"].id, network["SCU"].id]
    assert plan.version == 1


def test_the_requesting_library_is_left_out_and_says_why(network):
    request = submit_copy_request(network, reader="FDU")
    assert codes(routing.candidate_suppliers(request)) == ["SCU"]
    [excluded] = plan_of(request).explanations["excluded"]
    assert (excluded["code"], excluded["why"]) == ("FDU", "requester")


def test_a_library_closed_today_is_not_asked(network):
    # given SCU declared today closed
    ClosedDay.objects.create(institution=network["SCU"], date=timezone.localdate())
    # when a USST reader asks for the book FDU and SCU hold
    request = submit_copy_request(network, reader="USST")
    # then only FDU is in the rota; SCU is excluded as closed
    assert codes(routing.candidate_suppliers(request)) == ["FDU"]
    why = {e["code"]: e["why"] for e in plan_of(request).explanations["excluded"]}
    assert why == {"SCU": "closed"}


def test_a_library_closed_on_the_day_the_request_moves_on_waits_behind_the_others(network):
    # given a rota FDU, SCU, and a partner WHU
    routing_services.partners_set(service_type="copy", institutions=[network["WHU"]])
    request = submit_copy_request(network)
    # when SCU declares a day closed and the request moves on that day
    day = timezone.localdate() + datetime.timedelta(days=3)
    ClosedDay.objects.create(institution=network["SCU"], date=day)
    # then SCU is asked after the partner that day, and before it the day after
    assert codes(routing.candidate_suppliers(request, today=day)) == ["FDU", "WHU", "SCU"]
    later = day + datetime.timedelta(days=1)
    assert codes(routing.candidate_suppliers(request, today=later)) == ["FDU", "SCU", "WHU"]


def test_the_service_profile_is_respected(network):
    # given SCU lends no books
    ServiceProfile.objects.filter(institution=network["SCU"]).update(lends_books=False)
    # when a USST reader asks for a loan of the book
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="The making"),
        work=network.work,
        service_type="loan",
    )
    # then only FDU is asked; SCU does not offer loans
    assert codes(routing.candidate_suppliers(request)) == ["FDU"]
    [excluded] = plan_of(request).explanations["excluded"]
    assert (excluded["code"], excluded["why"], excluded["params"]) == (
        "SCU",
        "service",
        {"service": "loan"},
    )


def test_excluded_formats_and_library_types_are_respected(network):
    # given FDU does not serve undergraduate colleges (USST is one) and SCU supplies no books
    SupplierProfile.objects.create(
        institution=network["FDU"], excluded_groups=["undergraduate_college"]
    )
    SupplierProfile.objects.create(institution=network["SCU"], excluded_formats=["book"])
    # when USST's reader asks for the book
    request = submit_copy_request(network)
    # then nobody holding it may be asked, and the request ends unfilled at once
    assert routing.candidate_suppliers(request) == []
    why = {e["code"]: e["why"] for e in plan_of(request).explanations["excluded"]}
    assert why == {"FDU": "group", "SCU": "format"}
    request.refresh_from_db()
    assert request.state == "unfilled"


def test_partners_come_after_members_and_the_proxy_team_last(network):
    # given WHU configured as a partner for copies and PKU running proxy search
    routing_services.partners_set(service_type="copy", institutions=[network["WHU"]])
    ServiceProfile.objects.filter(institution=network["PKU"]).update(proxy_search=True)
    # when USST's reader asks
    request = submit_copy_request(network)
    # then members first (own region first), the partner, then proxy search
    assert codes(routing.candidate_suppliers(request)) == ["FDU", "SCU", "WHU", "PKU"]
    explanations = plan_of(request).explanations
    assert [(r["code"], r["kind"]) for r in explanations["ranked"]] == [
        ("FDU", "member"),
        ("SCU", "member"),
        ("WHU", "partner"),
    ]
    assert [p["code"] for p in explanations["proxy"]] == ["PKU"]


def test_partners_for_loans_are_not_asked_for_copies(network):
    routing_services.partners_set(service_type="loan", institutions=[network["WHU"]])
    request = submit_copy_request(network)
    assert codes(routing.candidate_suppliers(request)) == ["FDU", "SCU"]


def test_an_article_goes_to_the_holders_of_its_journal(network):
    request = services.request_submit(
        actor=network.readers["USST"],
        citation=services.Citation(title="An article", issn="0031-2746", volume="12"),
    )
    assert codes(routing.candidate_suppliers(request)) == ["WHU"]


def test_every_ranked_candidate_explains_its_score(network):
    # given a USST request ranked by the default policy
    request = submit_copy_request(network)
    plan = plan_of(request)
    # when its explanation is read back from the stored facts
    explained = selectors.plan_explanations(plan)
    fdu, scu = explained["FDU"], explained["SCU"]
    # then every criterion of the policy has its share, its value and its reason in words,
    # the points add up to the score stored at the decision, and FDU is ahead on region
    criteria = [s.criterion for s in fdu.breakdown]
    assert criteria[:2] == ["same_region", "same_region_group"]
    assert {"days_per_fill", "load", "price", "holdings_accuracy"} <= set(criteria)
    assert sum(s.points for s in fdu.breakdown) == pytest.approx(fdu.score)
    [stored] = [r for r in plan.explanations["ranked"] if r["code"] == "FDU"]
    assert stored["score"] == pytest.approx(fdu.score, abs=1e-4)
    assert fdu.breakdown[0].reason == "in the requester's region (EAST)"
    assert scu.breakdown[0].reason == "in region SW, not the requester's (EAST)"
    assert fdu.score > scu.score


def test_the_rota_is_computed_once_then_kept(network):
    # given a stored rota
    request = submit_copy_request(network)
    plan = plan_of(request)
    # when a new holder appears in the catalogue
    routing_services.partners_set(service_type="copy", institutions=[network["WHU"]])
    # then the request's rota does not change under the librarians' feet
    assert codes(routing.candidate_suppliers(request)) == ["FDU", "SCU"]
    assert plan_of(request).version == plan.version
