"""The hand-over endpoints of the native API: rights as on the pages, errors in the one shape, the ledger moved."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from licensing.models import HandOver
from licensing.services import NO_ELIGIBLE_CUSTOMER, transfer_to_customer
from tests.api.helpers import account_url as url
from tests.api.helpers import assert_error
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import assert_ledger_consistent, balance, held, make_license, make_order, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world():
    partner = make_partner("Northwind Partners Holding", domain="holding.northwind-api.example.com")
    partner_viewer = grant(make_user("viewer@holding.northwind-api.example.com"), "viewer", account=partner)
    customer = make_account(name="Globex Manufacturing", domain="globex-api.example.com")
    lab = make_va(customer, "Lab")
    customer_user = grant(make_user("engineer@globex-api.example.com"), "user", account=customer)
    lab_user = grant(make_user("lab@globex-api.example.com"), "user", va=lab)
    dna = make_license("Catalyst 9300 DNA Advantage")
    order = make_order(partner, [(make_sku(dna, "C9300-DNA-A-48-API"), 10)], number="SO-API-1")
    other = make_account(name="Initech", domain="initech-api.example.com")
    return {
        "partner": partner,
        "partner_admin": partner.created_by,
        "partner_viewer": partner_viewer,
        "customer": customer,
        "customer_admin": customer.created_by,
        "customer_user": customer_user,
        "lab": lab,
        "lab_user": lab_user,
        "dna": dna,
        "line": order.lines.get(),
        "other": other,
    }


def hand_over(w, quantity=4):
    return transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line"]: quantity}, customer_account=w["customer"]
    )


# --- Creating -------------------------------------------------------------------------------------------


def test_a_partner_hands_order_lines_to_a_customer_by_domain(api, world):
    w = world
    api.force_login(w["partner_admin"])
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_domain": "GLOBEX-API.example.com", "order_lines": {str(w["line"].pk): 4}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    hand_over = HandOver.objects.get(pk=body["id"])
    assert hand_over.status == "pending" and hand_over.customer_account == w["customer"]
    assert body["direction"] == "outgoing" and body["customer_account"] == "Globex Manufacturing"
    assert body["total"] == 4 and body["lines"][0]["order_number"] == "SO-API-1"
    assert body["lines"][0]["quantity"] == 4 and body["expires_at"] is not None
    assert held(w["partner"], w["line"]) == 6
    assert_ledger_consistent()


def test_a_partner_may_name_the_customer_by_account_id(api, world):
    w = world
    api.force_login(w["partner_admin"])
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_account_id": w["customer"].pk, "order_lines": {str(w["line"].pk): 1}},
        format="json",
    )
    assert response.status_code == 201
    assert HandOver.objects.get(pk=response.json()["id"]).customer_account == w["customer"]


def test_an_ineligible_customer_gets_the_one_neutral_refusal_and_nothing_moves(api, world):
    w = world
    api.force_login(w["partner_admin"])
    for body in (
        {"customer_domain": "nobody.example.com"},
        {"customer_domain": w["partner"].domain},
        {"customer_account_id": w["partner"].pk},
    ):
        response = api.post(
            url("api_hand_overs", w["partner"]), {**body, "order_lines": {str(w["line"].pk): 1}}, format="json"
        )
        assert_error(response, 400)
        assert NO_ELIGIBLE_CUSTOMER in " ".join(sum(response.json()["fields"].values(), []))
    assert not HandOver.objects.exists()
    assert held(w["partner"], w["line"]) == 10


@pytest.mark.parametrize(
    "body, field",
    [
        ({"order_lines": {"1": 1}}, "customer_domain"),
        ({"customer_domain": "globex-api.example.com", "order_lines": {}}, "order_lines"),
        ({"customer_domain": "globex-api.example.com", "order_lines": {"abc": 1}}, "order_lines"),
        ({"customer_domain": "globex-api.example.com", "order_lines": {"9" * 30: 1}}, "order_lines"),
        ({"customer_domain": "globex-api.example.com", "order_lines": {"\uff11": 1}}, "order_lines"),
        ({"customer_domain": "globex-api.example.com", "order_lines": {"1": "many"}}, "order_lines"),
        ({"customer_domain": "x.example.com", "customer_account_id": 5, "order_lines": {"1": 1}}, "customer_domain"),
    ],
)
def test_a_malformed_hand_over_is_a_400_on_its_field(api, world, body, field):
    api.force_login(world["partner_admin"])
    response = api.post(url("api_hand_overs", world["partner"]), body, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert not HandOver.objects.exists()


def test_more_than_is_held_is_refused_by_the_service(api, world):
    w = world
    api.force_login(w["partner_admin"])
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_domain": "globex-api.example.com", "order_lines": {str(w["line"].pk): 11}},
        format="json",
    )
    assert_error(response, 400)
    assert not HandOver.objects.exists()


def test_an_order_line_of_another_account_is_a_404(api, world):
    w = world
    other_partner = make_partner("Contoso Holding")
    foreign = make_order(other_partner, [(make_sku(w["dna"]), 3)]).lines.get()
    api.force_login(w["partner_admin"])
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_domain": "globex-api.example.com", "order_lines": {str(foreign.pk): 1}},
        format="json",
    )
    assert_error(response, 404, "not_found")
    assert not HandOver.objects.exists()


def test_a_partner_viewer_may_not_hand_over(api, world):
    w = world
    api.force_login(w["partner_viewer"])
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_domain": "globex-api.example.com", "order_lines": {str(w["line"].pk): 1}},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert not HandOver.objects.exists()


# --- Reading --------------------------------------------------------------------------------------------


def test_each_side_lists_its_direction_and_the_partner_never_sees_the_customers_people(api, world):
    w = world
    first = hand_over(w, 2)
    api.force_login(w["partner_viewer"])
    body = api.get(url("api_hand_overs", w["partner"])).json()
    assert [row["id"] for row in body["results"]] == [first.pk]
    row = body["results"][0]
    assert row["direction"] == "outgoing" and row["created_by"] == w["partner_admin"].email
    assert row["decided_by"] is None and row["virtual_account"] is None
    assert api.get(url("api_hand_overs", w["partner"]), {"direction": "incoming"}).json()["results"] == []

    api.force_login(w["customer_user"])
    body = api.get(url("api_hand_overs", w["customer"]), {"direction": "incoming", "status": "pending"}).json()
    assert [row["id"] for row in body["results"]] == [first.pk]
    assert body["results"][0]["partner_account"] == "Northwind Partners Holding"
    assert body["results"][0]["created_by"] is None
    assert api.get(url("api_hand_overs", w["customer"]), {"status": "accepted"}).json()["results"] == []


def test_an_unknown_filter_value_is_a_400(api, world):
    api.force_login(world["partner_admin"])
    assert_error(api.get(url("api_hand_overs", world["partner"]), {"direction": "sideways"}), 400, "invalid")
    assert_error(api.get(url("api_hand_overs", world["partner"]), {"status": "lost"}), 400, "invalid")


def test_another_tenant_and_people_without_a_role_get_404(api, world):
    w = world
    made = hand_over(w)
    outsider = w["other"].created_by
    api.force_login(outsider)
    assert_error(api.get(url("api_hand_overs", w["customer"])), 404)
    assert_error(api.get(url("api_hand_over", w["customer"], hand_over_id=made.pk)), 404)
    # The outsider's own account does not reach the hand-over either.
    assert_error(api.get(url("api_hand_over", w["other"], hand_over_id=made.pk)), 404)
    response = api.post(
        url("api_hand_over_accept", w["other"], hand_over_id=made.pk),
        {"virtual_account_id": default_va(w["other"]).pk},
        format="json",
    )
    assert_error(response, 404)


def test_the_detail_lists_the_lines(api, world):
    w = world
    made = hand_over(w, 3)
    api.force_login(w["customer_user"])
    body = api.get(url("api_hand_over", w["customer"], hand_over_id=made.pk)).json()
    assert body["id"] == made.pk and body["status"] == "pending"
    assert body["lines"] == [
        {
            "order_line_id": w["line"].pk,
            "order_number": "SO-API-1",
            "line_number": 1,
            "sku": "C9300-DNA-A-48-API",
            "license": {"id": w["dna"].pk, "name": w["dna"].name, "tag": w["dna"].tag},
            "quantity": 3,
        }
    ]


def test_unauthenticated_callers_get_401_or_403_in_the_error_shape(api, world):
    response = api.get(url("api_hand_overs", world["partner"]))
    assert response.status_code in (401, 403)
    assert set(response.json()) == {"code", "detail", "fields"}


# --- Accepting, declining, cancelling -------------------------------------------------------------------


def test_a_customer_accepts_into_a_va_and_the_licenses_arrive(api, world):
    w = world
    made = hand_over(w, 4)
    api.force_login(w["customer_user"])
    response = api.post(
        url("api_hand_over_accept", w["customer"], hand_over_id=made.pk),
        {"virtual_account_id": w["lab"].pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "accepted" and body["virtual_account"] == {"id": w["lab"].pk, "name": "Lab"}
    assert body["decided_by"] == w["customer_user"].email
    assert balance(w["lab"], w["dna"]).purchased == 4
    assert_ledger_consistent()
    # Decided: a second answer is a 400 from the service.
    response = api.post(
        url("api_hand_over_accept", w["customer"], hand_over_id=made.pk),
        {"virtual_account_id": w["lab"].pk},
        format="json",
    )
    assert_error(response, 400)
    assert balance(w["lab"], w["dna"]).purchased == 4


def test_accepting_into_a_va_of_another_account_or_out_of_reach_is_a_404(api, world):
    w = world
    made = hand_over(w)
    other_va = make_va(w["other"], "Elsewhere")
    api.force_login(w["lab_user"])
    for va in (other_va, default_va(w["customer"])):  # another tenant's VA; a VA outside the lab user's subtree
        response = api.post(
            url("api_hand_over_accept", w["customer"], hand_over_id=made.pk),
            {"virtual_account_id": va.pk},
            format="json",
        )
        assert_error(response, 404)
    assert HandOver.objects.get(pk=made.pk).status == "pending"


def test_a_viewer_may_not_accept(api, world):
    w = world
    made = hand_over(w)
    viewer = grant(make_user("viewer@globex-api.example.com"), "viewer", account=w["customer"])
    api.force_login(viewer)
    response = api.post(
        url("api_hand_over_accept", w["customer"], hand_over_id=made.pk),
        {"virtual_account_id": w["lab"].pk},
        format="json",
    )
    assert_error(response, 403)
    assert HandOver.objects.get(pk=made.pk).status == "pending"


def test_accept_without_a_va_is_a_400(api, world):
    w = world
    made = hand_over(w)
    api.force_login(w["customer_user"])
    response = api.post(url("api_hand_over_accept", w["customer"], hand_over_id=made.pk), {}, format="json")
    assert_error(response, 400, "invalid")
    assert "virtual_account_id" in response.json()["fields"]


def test_only_an_account_admin_declines_with_a_reason(api, world):
    w = world
    made = hand_over(w, 4)
    decline = url("api_hand_over_decline", w["customer"], hand_over_id=made.pk)
    api.force_login(w["customer_user"])
    assert_error(api.post(decline, {"reason": "Wrong site"}, format="json"), 403)
    api.force_login(w["customer_admin"])
    response = api.post(decline, {"reason": "   "}, format="json")
    assert_error(response, 400)
    assert "reason" in response.json()["fields"]
    assert HandOver.objects.get(pk=made.pk).status == "pending"
    response = api.post(decline, {"reason": "Wrong site"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "declined" and response.json()["reason"] == "Wrong site"
    assert held(w["partner"], w["line"]) == 10
    assert_ledger_consistent()


def test_the_partner_cancels_a_pending_hand_over(api, world):
    w = world
    made = hand_over(w, 4)
    cancel = url("api_hand_over_cancel", w["partner"], hand_over_id=made.pk)
    api.force_login(w["partner_viewer"])
    assert_error(api.post(cancel), 403)
    api.force_login(w["partner_admin"])
    response = api.post(cancel)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert held(w["partner"], w["line"]) == 10
    assert_error(api.post(cancel), 400)
    assert_ledger_consistent()


def test_each_action_exists_only_on_its_side(api, world):
    w = world
    made = hand_over(w)
    api.force_login(w["partner_admin"])
    response = api.post(
        url("api_hand_over_accept", w["partner"], hand_over_id=made.pk),
        {"virtual_account_id": default_va(w["partner"]).pk},
        format="json",
    )
    assert_error(response, 404)
    api.force_login(w["customer_admin"])
    assert_error(api.post(url("api_hand_over_cancel", w["customer"], hand_over_id=made.pk)), 404)
    assert HandOver.objects.get(pk=made.pk).status == "pending"


def count_queries(api, path, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path, params or {}).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_one_or_many_hand_overs(api, world):
    w = world
    api.force_login(w["customer_user"])
    path = url("api_hand_overs", w["customer"])

    def add(accepted: int, pending: int):
        for _ in range(accepted):
            made = hand_over(w, 1)
            accept = url("api_hand_over_accept", w["customer"], hand_over_id=made.pk)
            assert api.post(accept, {"virtual_account_id": w["lab"].pk}, format="json").status_code == 200
        for _ in range(pending):
            hand_over(w, 1)

    add(1, 1)
    few = count_queries(api, path)
    add(5, 2)
    assert count_queries(api, path) == few
    assert len(api.get(path).json()["results"]) == 9


def test_another_tenant_may_not_create_decline_or_cancel(api, world):
    w = world
    made = hand_over(w)
    api.force_login(w["other"].created_by)
    response = api.post(
        url("api_hand_overs", w["partner"]),
        {"customer_domain": "globex-api.example.com", "order_lines": {str(w["line"].pk): 1}},
        format="json",
    )
    assert_error(response, 404)
    decline = url("api_hand_over_decline", w["customer"], hand_over_id=made.pk)
    assert_error(api.post(decline, {"reason": "Not ours"}, format="json"), 404)
    assert_error(api.post(url("api_hand_over_cancel", w["partner"], hand_over_id=made.pk)), 404)
    # With its own account in the URL, the hand-over is not found either.
    assert_error(
        api.post(url("api_hand_over_decline", w["other"], hand_over_id=made.pk), {"reason": "x"}, format="json"), 404
    )
    assert HandOver.objects.get(pk=made.pk).status == "pending"
    assert HandOver.objects.count() == 1
