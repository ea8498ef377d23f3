"""The partner holding pages and the customer's Incoming licenses pages, through the test client."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from licensing.models import HandOver
from licensing.services import NO_ELIGIBLE_CUSTOMER, accept_hand_over, decline_hand_over, transfer_to_customer
from smartaccounts.models import SmartAccount
from tests.factories import default_va, grant, make_account, make_user, make_va
from tests.isolation import response_text

from .helpers import assert_ledger_consistent, balance, held, make_license, make_order, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    partner = make_partner("Northwind Partners Holding", domain="holding.northwind.example.com")
    customer = make_account(name="Globex Manufacturing", domain="globex-mfg.example.com")
    SmartAccount.objects.filter(pk=customer.pk).update(headquarters_address="1 Secret Street, Springfield")
    secret_va = make_va(customer, "Secret Research Lab")
    customer_user = grant(make_user("engineer@globex-mfg.example.com"), "user", account=customer)
    dna = make_license("Catalyst 9300 DNA Advantage")
    network = make_license("Catalyst 9300 Network Advantage")
    order = make_order(
        partner, [(make_sku(dna, "C9300-DNA-A-48"), 10), (make_sku(network, "C9300-NW-A-48"), 4)], number="SO-7001"
    )
    line_1, line_2 = order.lines.order_by("line_number")
    return {
        "partner": partner,
        "partner_admin": partner.created_by,
        "customer": customer,
        "customer_admin": customer.created_by,
        "customer_user": customer_user,
        "secret_va": secret_va,
        "dna": dna,
        "line_1": line_1,
        "line_2": line_2,
    }


def _url(name, account, **kwargs):
    return reverse(name, kwargs={"account_id": account.pk, **kwargs})


def test_the_held_orders_page_shows_each_line_with_the_quantity_still_held(client, world):
    w = world
    transfer_to_customer(actor=w["partner_admin"], order_lines={w["line_1"]: 3}, customer_account=w["customer"])
    client.force_login(w["partner_admin"])
    response = client.get(_url("partner_holdings", w["partner"]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "SO-7001" in text and "C9300-DNA-A-48" in text
    row = re.search(r"C9300-DNA-A-48.*?</tr>", text, re.S).group(0)
    assert re.findall(r'class="num">(?:<strong>)?(?:<span class="badge badge-warn">)?(\d+)', row) == ["10", "7", "3"]
    assert "Transfer to customer" in text


def test_the_partner_pages_are_not_there_for_a_customer_account(client, world):
    w = world
    client.force_login(w["customer_admin"])
    for name in ("partner_holdings", "hand_over_create", "hand_overs_outgoing"):
        assert client.get(_url(name, w["customer"])).status_code == 404
    client.force_login(w["partner_admin"])
    assert client.get(_url("hand_overs_incoming", w["partner"])).status_code == 404


def test_transfer_to_customer_confirms_the_account_name_then_hands_over(
    client, world, django_capture_on_commit_callbacks
):
    w = world
    client.force_login(w["partner_admin"])
    url = _url("hand_over_create", w["partner"])
    form = client.get(url)
    assert f'name="qty_{w["line_1"].pk}"' in form.content.decode()
    data = {
        "customer_domain": "  GLOBEX-mfg.example.com ",
        f"qty_{w['line_1'].pk}": "4",
        f"qty_{w['line_2'].pk}": "2",
        "step": "review",
    }
    confirm = client.post(url, data)
    text = confirm.content.decode()
    assert confirm.status_code == 200 and "Confirm the hand-over" in text
    assert "Globex Manufacturing" in text
    assert HandOver.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {**data, "step": "confirm"})
    hand_over = HandOver.objects.get()
    assert done.status_code == 302
    assert done["Location"] == _url("hand_over_outgoing_detail", w["partner"], hand_over_id=hand_over.pk)
    assert held(w["partner"], w["line_1"]) == 6 and held(w["partner"], w["line_2"]) == 2
    assert any(w["customer_admin"].email in m.to for m in mail.outbox)
    detail = client.get(done["Location"]).content.decode()
    assert "Waiting for Globex Manufacturing to accept" in detail and "Cancel the hand-over" in detail


def test_the_confirmation_shows_only_the_customer_account_name(client, world):
    w = world
    client.force_login(w["partner_admin"])
    confirm = client.post(
        _url("hand_over_create", w["partner"]),
        {"customer_domain": "globex-mfg.example.com", f"qty_{w['line_1'].pk}": "1", "step": "review"},
    )
    text = confirm.content.decode()
    assert "Globex Manufacturing" in text
    for secret in ("Secret Research Lab", "1 Secret Street", w["customer_admin"].email, w["customer_user"].email,
                   "DEFAULT"):  # fmt: skip
        assert secret not in text


@pytest.mark.parametrize("kind", ["unknown", "limited_use", "partner_holding", "pending", "own"])
def test_an_account_that_cannot_receive_gets_one_neutral_message(client, world, kind):
    w = world
    domain = {
        "unknown": lambda: "nobody.example.org",
        "limited_use": lambda: make_account(kind="limited_use").domain,
        "partner_holding": lambda: make_partner("Contoso Holding", domain="holding.contoso.example.com").domain,
        "pending": lambda: _pending_customer().domain,
        "own": lambda: w["partner"].domain,
    }[kind]()
    client.force_login(w["partner_admin"])
    response = client.post(
        _url("hand_over_create", w["partner"]),
        {"customer_domain": domain, f"qty_{w['line_1'].pk}": "1", "step": "review"},
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert NO_ELIGIBLE_CUSTOMER in text
    assert "Confirm the hand-over" not in text
    for name in ("Contoso Holding", "Pending Customer", "Limited"):
        assert name not in text


def _pending_customer():
    account = make_account(name="Pending Customer", domain="pending-customer.example.com")
    SmartAccount.objects.filter(pk=account.pk).update(status=SmartAccount.Status.PENDING)
    return account


def test_quantities_above_what_is_held_are_refused_on_the_form(client, world):
    w = world
    client.force_login(w["partner_admin"])
    response = client.post(
        _url("hand_over_create", w["partner"]),
        {"customer_domain": "globex-mfg.example.com", f"qty_{w['line_1'].pk}": "11", "step": "review"},
    )
    assert "Ensure this value is less than or equal to 10." in response.content.decode()
    response = client.post(
        _url("hand_over_create", w["partner"]), {"customer_domain": "globex-mfg.example.com", "step": "review"}
    )
    assert "Enter a quantity for at least one order line." in response.content.decode()


def test_a_partner_never_sees_anything_of_the_customer_beyond_its_name(client, world):
    w = world
    first = transfer_to_customer(actor=w["partner_admin"], order_lines={w["line_1"]: 2}, customer_account=w["customer"])
    accept_hand_over(actor=w["customer_user"], hand_over=first, virtual_account=w["secret_va"])
    second = transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line_1"]: 2}, customer_account=w["customer"]
    )
    decline_hand_over(actor=w["customer_admin"], hand_over=second, reason="Please send Network Advantage instead")
    client.force_login(w["partner_admin"])
    pages = [
        _url("account_home", w["partner"]),
        _url("partner_holdings", w["partner"]),
        _url("hand_overs_outgoing", w["partner"]),
        _url("hand_over_outgoing_detail", w["partner"], hand_over_id=first.pk),
        _url("hand_over_outgoing_detail", w["partner"], hand_over_id=second.pk),
        _url("hand_over_create", w["partner"]),
        _url("account_events", w["partner"]),
        _url("account_events_csv", w["partner"]),
        _url("licenses", w["partner"]),
        _url("license_detail", w["partner"], license_id=w["dna"].pk),
    ]
    seen = ""
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        seen += response_text(response)
    assert "hand-over" in seen and "accepted hand-over" in seen
    assert "Globex Manufacturing" in seen  # the confirmed name, and the decline reason the customer wrote
    assert "Please send Network Advantage instead" in seen
    for secret in ("Secret Research Lab", "1 Secret Street", w["customer_admin"].email, w["customer_user"].email):
        assert secret not in seen
    # The customer's own pages stay closed to the partner.
    for name in ("account_home", "hand_overs_incoming"):
        assert client.get(_url(name, w["customer"])).status_code == 404
    assert client.get(_url("hand_over_incoming_detail", w["customer"], hand_over_id=first.pk)).status_code == 404
    # The e-mails the partner received say nothing more either.
    for message in mail.outbox:
        if w["partner_admin"].email in message.to:
            assert "Secret Research Lab" not in message.body and w["customer_user"].email not in message.body


def test_a_hand_over_of_another_partner_is_not_found(client, world):
    w = world
    other = make_partner("Contoso Holding")
    other_order = make_order(other, [(w["line_1"].sku, 3)])
    theirs = transfer_to_customer(
        actor=other.created_by, order_lines={other_order.lines.get(): 1}, customer_account=w["customer"]
    )
    client.force_login(w["partner_admin"])
    assert client.get(_url("hand_over_outgoing_detail", w["partner"], hand_over_id=theirs.pk)).status_code == 404
    assert client.post(_url("hand_over_cancel", w["partner"], hand_over_id=theirs.pk)).status_code == 404
    assert HandOver.objects.get(pk=theirs.pk).status == HandOver.Status.PENDING


def test_the_customer_sees_the_partner_order_lines_and_quantities_and_accepts(client, world):
    w = world
    hand_over = transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line_1"]: 4, w["line_2"]: 1}, customer_account=w["customer"]
    )
    client.force_login(w["customer_admin"])
    home = client.get(_url("account_home", w["customer"])).content.decode()
    assert "Northwind Partners Holding" in home and "Review" in home
    listing = client.get(_url("hand_overs_incoming", w["customer"])).content.decode()
    assert "Northwind Partners Holding" in listing and f"#{hand_over.pk}" in listing
    detail = client.get(_url("hand_over_incoming_detail", w["customer"], hand_over_id=hand_over.pk)).content.decode()
    for expected in ("SO-7001", "C9300-DNA-A-48", "C9300-NW-A-48", "Catalyst 9300 DNA Advantage", "Decline"):
        assert expected in detail
    response = client.post(
        _url("hand_over_accept", w["customer"], hand_over_id=hand_over.pk), {"virtual_account": w["secret_va"].pk}
    )
    assert response.status_code == 302
    assert balance(w["secret_va"], w["dna"]).purchased == 4
    after = client.get(response["Location"]).content.decode()
    assert "Accepted 5 licenses from Northwind Partners Holding into Secret Research Lab." in after
    assert_ledger_consistent()


def test_the_accept_form_lists_only_the_virtual_accounts_the_user_may_operate_on(client, world):
    w = world
    lab_user = grant(make_user("lab@globex-mfg.example.com"), "user", va=w["secret_va"])
    hand_over = transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line_1"]: 1}, customer_account=w["customer"]
    )
    client.force_login(lab_user)
    detail = client.get(_url("hand_over_incoming_detail", w["customer"], hand_over_id=hand_over.pk)).content.decode()
    options = re.findall(r'<option value="(\d+)"', detail)
    assert options == [str(w["secret_va"].pk)]
    assert "Decline and send back" not in detail  # declining is for the account's Admins
    refused = client.post(
        _url("hand_over_accept", w["customer"], hand_over_id=hand_over.pk),
        {"virtual_account": default_va(w["customer"]).pk},
    )
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert HandOver.objects.get(pk=hand_over.pk).status == HandOver.Status.PENDING


def test_declining_from_the_page_needs_a_reason(client, world):
    w = world
    hand_over = transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line_1"]: 1}, customer_account=w["customer"]
    )
    client.force_login(w["customer_admin"])
    url = _url("hand_over_decline", w["customer"], hand_over_id=hand_over.pk)
    assert "This field is required." in client.post(url, {"reason": ""}).content.decode()
    response = client.post(url, {"reason": "Not ordered by us"})
    assert response.status_code == 302
    assert HandOver.objects.get(pk=hand_over.pk).status == HandOver.Status.DECLINED
    again = client.post(_url("hand_over_accept", w["customer"], hand_over_id=hand_over.pk),
                        {"virtual_account": w["secret_va"].pk}, follow=True)  # fmt: skip
    assert "can no longer be accepted: the customer has declined it" in again.content.decode()


def test_the_partner_cancels_from_the_page(client, world):
    w = world
    hand_over = transfer_to_customer(
        actor=w["partner_admin"], order_lines={w["line_1"]: 5}, customer_account=w["customer"]
    )
    client.force_login(w["partner_admin"])
    response = client.post(_url("hand_over_cancel", w["partner"], hand_over_id=hand_over.pk), follow=True)
    assert "is cancelled; its licenses are back in this account" in response.content.decode()
    assert held(w["partner"], w["line_1"]) == 10
    again = client.post(_url("hand_over_cancel", w["partner"], hand_over_id=hand_over.pk), follow=True)
    assert "can no longer be cancelled: the partner has cancelled it" in again.content.decode()


def _many_hand_overs(world, count):
    w = world
    sku = w["line_1"].sku
    for _ in range(count):
        order = make_order(w["partner"], [(sku, 2), (sku, 1)])
        transfer_to_customer(
            actor=w["partner_admin"],
            order_lines=dict.fromkeys(order.lines.all(), 1),
            customer_account=w["customer"],
        )


@pytest.mark.parametrize(
    ("name", "account_key", "user_key"),
    [
        ("partner_holdings", "partner", "partner_admin"),
        ("hand_overs_outgoing", "partner", "partner_admin"),
        ("hand_overs_incoming", "customer", "customer_admin"),
    ],
)
def test_list_pages_answer_in_the_same_number_of_queries_for_few_and_many_rows(
    client, world, django_assert_max_num_queries, name, account_key, user_key
):
    w = world
    client.force_login(w[user_key])
    url = _url(name, w[account_key])
    _many_hand_overs(w, 2)
    client.get(url)  # warm the session and the content types
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _many_hand_overs(w, 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
