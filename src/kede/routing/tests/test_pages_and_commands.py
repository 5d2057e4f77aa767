"""The routing pages (rota with reasons, the centre's policies, the reader's notice) and
`kede routing …`."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from kede.conftest import PASSWORD, submit_copy_request
from kede.consortium.models import ServiceProfile
from kede.ill import services
from kede.routing import messages, policy
from kede.routing.models import RotaPlan, RoutingPolicy
from kede.routing.rota import Calendar, Outcome
from kede.routing.stats import from_outcomes

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


def english(client):
    client.post(reverse("set_language"), {"language": "en"})
    return client


def test_borrowing_staff_see_each_candidates_score_and_reasons(client, network):
    # given a USST request, and SCU closed for the requester's type
    request = submit_copy_request(network, reader="FDU")
    login(english(client), network.staff["FDU"])
    # when FDU's staff open its rota
    page = client.get(reverse("portal:routing-rota", args=[request.id]))
    text = page.content.decode()
    # then SCU is listed with its score and the reasons of each criterion; FDU is not asked,
    # and why
    assert page.status_code == 200
    assert 'id="rota-SCU"' in text and "asked now" in text
    assert "in region SW, not the requester&#x27;s (EAST)" in text
    assert "no copy history yet: by the network&#x27;s prior, 2.7 days per fill" in text
    assert 'id="excluded"' in text and "is the requesting library" in text


def test_the_rota_page_is_not_found_for_other_libraries(client, network):
    request = submit_copy_request(network)
    for user in (network.staff["FDU"], network.readers["USST"], network.staff["SCU"]):
        client.logout()
        login(client, user)
        assert client.get(reverse("portal:routing-rota", args=[request.id])).status_code == 404


def test_staff_edit_the_rota_on_the_page_and_a_stale_form_is_refused(client, network):
    # given a USST request (rota FDU, SCU) and the rota page open twice
    request = submit_copy_request(network)
    login(english(client), network.staff["USST"])
    url = reverse("portal:routing-rota", args=[request.id])
    scu, sass = network["SCU"].id, network["SASS"].id
    # when SCU is removed and SASS added
    client.post(url, {"version": 1, f"remove_{scu}": "1", "add": str(sass)}, follow=True)
    # then the rota is FDU, SASS
    assert RotaPlan.objects.get(request=request).suppliers == [network["FDU"].id, sass]
    # and the second form, on version 1, is refused with a message
    response = client.post(url, {"version": 1, "add": str(scu)}, follow=True)
    [said] = [str(m) for m in response.context["messages"]]
    assert "Someone else changed this rota first" in said
    assert RotaPlan.objects.get(request=request).version == 2


def test_the_centre_edits_a_policy_and_bad_weights_are_refused_with_the_reason(client, network):
    login(english(client), network.centre_admin)
    url = reverse("portal:routing-policy") + "?service=copy"
    assert client.get(url).status_code == 200
    bad = json.dumps({"criteria": [{"name": "price", "weight": -2}]})
    response = client.post(url, {"config": bad, "version": 0})
    assert response.status_code == 400
    assert "criteria[0].weight: must be ≥ 0, got -2" in response.content.decode()
    assert not RoutingPolicy.objects.exists()
    good = json.dumps({"criteria": [{"name": "fill_rate", "weight": 2}]})
    client.post(url, {"config": good, "version": 0, "note": "fill first"})
    assert RoutingPolicy.objects.get().note == "fill first"
    # the workbench links to it for the centre only
    assert reverse("portal:routing-policy") in client.get(reverse("portal:staff")).content.decode()


def test_only_the_centre_opens_the_policy_page(client, network):
    login(client, network.staff["FDU"])
    assert client.get(reverse("portal:routing-policy")).status_code == 403
    assert (
        reverse("portal:routing-policy") not in client.get(reverse("portal:staff")).content.decode()
    )


def test_a_request_nobody_holds_goes_to_proxy_search_and_the_reader_is_told_at_once(
    client, network
):
    # given the centre library runs the proxy-search service
    ServiceProfile.objects.filter(institution=network["PKU"]).update(proxy_search=True)
    # when a reader asks for something no library holds
    request = services.request_submit(
        actor=network.readers["USST"], citation=services.Citation(title="A rare pamphlet")
    )
    # then it goes straight to the proxy-search team, and the request page says why
    assert request.supplies.get().supplier.code == "PKU"
    login(english(client), network.readers["USST"])
    text = client.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert "No library in the union catalogue holds it." in text
    assert "proxy-search service" in text


def test_without_a_proxy_team_a_request_nobody_holds_ends_at_once_with_the_reason(client, network):
    request = services.request_submit(
        actor=network.readers["USST"], citation=services.Citation(title="A rare pamphlet")
    )
    request.refresh_from_db()
    assert request.state == "unfilled"
    login(english(client), network.readers["USST"])
    text = client.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert "No library in the union catalogue holds it." in text
    assert "no proxy-search service" in text


def test_the_reader_sees_no_notice_when_libraries_can_be_asked(client, network):
    request = submit_copy_request(network)
    login(client, network.readers["USST"])
    text = client.get(reverse("portal:request-detail", args=[request.id])).content.decode()
    assert 'id="no-candidate"' not in text


# ---- commands ------------------------------------------------------------------------------


def run(*args):
    out = io.StringIO()
    call_command("routing", *args, stdout=out)
    return out.getvalue()


def test_policy_show_set_and_explain_from_the_command_line(network, tmp_path):
    assert "the default policy" in run("policy", "show")
    good = tmp_path / "policy.json"
    good.write_text(json.dumps({"criteria": [{"name": "same_region", "weight": 1}]}))
    assert "version 1 saved" in run("policy", "set", str(good), "--service", "loan")
    shown = json.loads(run("policy", "show", "--service", "loan", "--json"))
    assert shown["criteria"] == [{"name": "same_region", "weight": 1.0}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"criteria": [{"name": "same_region", "weight": float("nan")}]}))
    with pytest.raises(CommandError, match=r"criteria\[0\]\.weight: must be a finite number"):
        run("policy", "set", str(bad))
    request = submit_copy_request(network)
    text = run("explain", request.number)
    assert "1. FDU (member) score" in text and "in the requester's region (EAST)" in text
    with pytest.raises(CommandError, match="No request"):
        run("explain", "KD000")


def test_partners_from_the_command_line(network):
    assert run("partners", "--service", "copy", "--set", "whu", "sass") == "copy: WHU, SASS\n"
    with pytest.raises(CommandError, match="No institution 'NOPE'"):
        run("partners", "--set", "NOPE")


# ---- every reason the pure core gives can be translated ------------------------------------


def test_every_reason_template_is_marked_for_translation():
    # given candidates that take every branch of every criterion and exclusion
    facts = policy.RequestFacts(
        requester="R",
        requester_institution="R",
        service_type="copy",
        today=__import__("datetime").date(2026, 3, 2),
        region="E",
        region_group="east",
        format="thesis",
        requester_group="private_college",
        asked="v.12 (1998)",
    )
    rich = from_outcomes([(Outcome.FILLED, 1.0, False), (Outcome.UNFILLED, None, True)])
    candidates = [
        policy.Candidate("R"),
        policy.Candidate("A", institution="R", region="E", region_group="east", capacity=3),
        policy.Candidate("B", region="W", region_group="west", stats=rich),
        policy.Candidate("C", services=frozenset({"loan"})),
        policy.Candidate("D", excluded_formats=frozenset({"thesis"})),
        policy.Candidate("E", excluded_groups=frozenset({"private_college"})),
        policy.Candidate("F", calendar=Calendar(closed_dates=frozenset({facts.today}))),
        policy.Candidate("A"),
        policy.Candidate("G", coverage="not_covered", holdings="v.1(1975)-v.5(1979)"),
        policy.Candidate("H", coverage="covered", holdings="v.1(1975)-"),
        policy.Candidate("I", coverage="unknown", holdings="[v.1-20]"),
        policy.Candidate("J", coverage="unknown"),
        policy.Candidate("K", region="E", region_group="east", stats=rich),
    ]
    kept, excluded = policy.eligible(candidates, facts)
    everything = policy.Policy.from_config(
        {
            "criteria": [{"name": n, "weight": 1} for n in policy.CRITERIA],
            "shipping_days": {"same_region": 0, "same_region_group": 1, "elsewhere": 2},
        }
    )
    used = {e.message for e in excluded}
    used |= {s.message for r in policy.rank(kept, facts, everything) for s in r.breakdown}
    # then each template is in the list the message catalogue is built from
    assert len(used) == len(messages.REASONS)
    assert used == set(messages.REASONS)
    assert set(messages.CRITERIA) == {*policy.CRITERIA, policy.COVERAGE}
