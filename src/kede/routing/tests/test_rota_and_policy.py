"""Editing a request's rota, and the centre's policies: who may, stale edits, bad input."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from kede.conftest import submit_copy_request
from kede.consortium.models import ServiceProfile
from kede.ill import routing, services
from kede.routing import selectors
from kede.routing import services as routing_services
from kede.routing.models import RotaEdit, RotaPlan, RoutingPolicy, SupplierProfile

pytestmark = pytest.mark.django_db


def ids(network, *codes):
    return [network[c].id for c in codes]


def test_borrowing_staff_reorder_and_the_request_follows_their_order(network):
    # given a USST request at FDU, rota FDU, SCU
    request = submit_copy_request(network)
    plan = RotaPlan.objects.get(request=request)
    # when USST's staff add SASS and put it before SCU
    edited = routing_services.rota_edit(
        actor=network.staff["USST"],
        request=request,
        suppliers=ids(network, "SASS", "SCU"),
        expected_version=plan.version,
    )
    # then FDU (already asked) keeps its place, and SASS is asked next when FDU cannot supply
    assert edited.suppliers == ids(network, "FDU", "SASS", "SCU")
    assert edited.version == plan.version + 1
    assert edited.edited_by == network.staff["USST"]
    assert not edited.overridden
    [added] = [r for r in edited.explanations["ranked"] if r["code"] == "SASS"]
    assert added["added"]
    assert selectors.plan_explanations(edited)["SASS"].breakdown
    services.supply_refuse(
        actor=network.staff["FDU"], supply=request.supplies.get(), reason="not_on_shelf"
    )
    assert request.supplies.order_by("-position").first().supplier.code == "SASS"
    assert RotaEdit.objects.get(plan=plan).after == edited.suppliers


def test_an_edit_on_a_stale_version_is_refused(network):
    # given two librarians who opened the same rota
    request = submit_copy_request(network)
    version = RotaPlan.objects.get(request=request).version
    routing_services.rota_edit(
        actor=network.staff["USST"], request=request, suppliers=[], expected_version=version
    )
    # when the second saves on the version they read
    with pytest.raises(ValidationError, match="Someone else changed this rota first"):
        routing_services.rota_edit(
            actor=network.staff["USST"],
            request=request,
            suppliers=ids(network, "SASS"),
            expected_version=version,
        )
    # then the first edit stands
    assert RotaPlan.objects.get(request=request).suppliers == ids(network, "FDU")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("USST", "cannot supply its own reader's request"),
        ("WHU", "does not offer copy"),
    ],
)
def test_an_ineligible_supplier_cannot_be_added(network, code, message):
    ServiceProfile.objects.filter(institution=network["WHU"]).update(supplies_copies=False)
    request = submit_copy_request(network)
    plan = RotaPlan.objects.get(request=request)
    with pytest.raises(ValidationError, match=message):
        routing_services.rota_edit(
            actor=network.staff["USST"],
            request=request,
            suppliers=[*plan.suppliers, network[code].id],
            expected_version=plan.version,
        )
    assert RotaPlan.objects.get(request=request).version == plan.version


def test_an_unknown_supplier_or_a_duplicate_is_refused(network):
    request = submit_copy_request(network)
    plan = RotaPlan.objects.get(request=request)
    for suppliers, message in (([999999], "No active library"), ([plan.suppliers[1]] * 2, "twice")):
        with pytest.raises(ValidationError, match=message):
            routing_services.rota_edit(
                actor=network.staff["USST"],
                request=request,
                suppliers=suppliers,
                expected_version=plan.version,
            )


def test_only_the_requesting_librarys_staff_or_the_centre_may_edit(network):
    request = submit_copy_request(network)
    plan = RotaPlan.objects.get(request=request)
    for outsider in (network.staff["FDU"], network.readers["USST"], network.region_admin):
        with pytest.raises(PermissionDenied):
            routing_services.rota_edit(
                actor=outsider, request=request, suppliers=[], expected_version=plan.version
            )


def test_the_centre_overrides_the_rules(network):
    # given WHU does not serve undergraduate colleges
    SupplierProfile.objects.create(
        institution=network["WHU"], excluded_groups=["undergraduate_college"]
    )
    request = submit_copy_request(network)
    plan = RotaPlan.objects.get(request=request)
    # when the centre puts WHU in USST's rota anyway
    edited = routing_services.rota_edit(
        actor=network.centre_admin,
        request=request,
        suppliers=ids(network, "WHU", "SCU"),
        expected_version=plan.version,
    )
    # then it stands, marked as the centre's
    assert edited.suppliers == ids(network, "FDU", "WHU", "SCU")
    assert edited.overridden


def test_a_rota_cannot_change_once_the_request_is_over(network):
    request = submit_copy_request(network)
    services.request_cancel(actor=network.readers["USST"], request=request)
    plan = RotaPlan.objects.get(request=request)
    with pytest.raises(ValidationError, match="can no longer be changed"):
        routing_services.rota_edit(
            actor=network.staff["USST"], request=request, suppliers=[], expected_version=1
        )
    assert RotaPlan.objects.get(pk=plan.pk).version == plan.version


# ---- policies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"criteria": [{"name": "price", "weight": -1}]}, r"criteria\[0\]\.weight: must be ≥ 0"),
        (
            {"criteria": [{"name": "price", "weight": "heavy"}]},
            r"criteria\[0\]\.weight: must be a number",
        ),
        ({"criteria": [{"name": "price", "weight": 0}]}, "at least one weight must be > 0"),
        ({"criteria": [{"name": "fill_rat", "weight": 1}]}, "did you mean 'fill_rate'"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_policy_with_bad_weights_is_refused_with_the_reason(network, config, message):
    with pytest.raises(ValidationError, match=message):
        routing_services.policy_save(actor=network.centre_admin, service_type="copy", config=config)
    assert not RoutingPolicy.objects.exists()


def test_only_the_centre_may_change_a_policy(network):
    with pytest.raises(PermissionDenied):
        routing_services.policy_save(
            actor=network.staff["FDU"],
            service_type="copy",
            config={"criteria": [{"name": "price", "weight": 1}]},
        )


def test_a_saved_policy_decides_new_rotas_and_keeps_its_history(network):
    # given SCU charges less than FDU
    SupplierProfile.objects.create(institution=network["FDU"], copy_price=30)
    SupplierProfile.objects.create(institution=network["SCU"], copy_price=5)
    first = submit_copy_request(network, "Before")
    assert routing.candidate_suppliers(first)[0].code == "FDU"
    # when the centre ranks copies on price alone, twice
    for n in (1, 2):
        saved = routing_services.policy_save(
            actor=network.centre_admin,
            service_type="copy",
            config={"criteria": [{"name": "price", "weight": n}]},
            note=f"price only {n}",
        )
    # then new requests go to SCU first; the old one keeps its rota; v1 is history
    second = submit_copy_request(network, "After")
    assert [i.code for i in routing.candidate_suppliers(second)] == ["SCU", "FDU"]
    assert routing.candidate_suppliers(first)[0].code == "FDU"
    assert saved.version == 2 and saved.edited_by == network.centre_admin
    assert list(RoutingPolicy.objects.values_list("version", "is_active")) == [
        (2, True),
        (1, False),
    ]
    assert RotaPlan.objects.get(request=second).explanations["policy"]["version"] == 2


def test_a_policy_saved_on_a_stale_version_is_refused(network):
    config = {"criteria": [{"name": "price", "weight": 1}]}
    routing_services.policy_save(actor=None, service_type="copy", config=config)
    with pytest.raises(ValidationError, match="Someone else changed this policy"):
        routing_services.policy_save(
            actor=None, service_type="copy", config=config, expected_version=0
        )
