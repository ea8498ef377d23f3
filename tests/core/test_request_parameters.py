"""Ids, page cursors and search terms from requests (smartaccounts.params) and the pages that read them:
an id is ASCII digits within bigint, a cursor is exactly what a page wrote, a search holds no NUL.

A bad filter value is ignored (the page says so for a search), a bad path id is 404, a damaged
cursor is 400 with a page that says to start from the first page; nothing answers 500."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.urls import reverse

from licensing.models import ProductInstance
from policy.models import Alert
from smartaccounts.models import VirtualAccount
from smartaccounts.params import BadCursor, decode_cursor, encode_cursor, parse_id
from tests.isolation import build_tenant, response_text
from tests.licensing.helpers import register
from tests.licensing.workflows.builders import build_partner_tenant, held_line, pak_id
from tests.licensing.workflows.helpers import make_license, make_order, make_sku

pytestmark = pytest.mark.django_db


def cursor_of(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


NESTED = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).decode().rstrip("=")
NUL_HOSTNAME = cursor_of(["\x00", 1])


# --- The helper ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "42", " 42 ", str(2**63 - 1), "007"])
def test_an_id_is_ascii_digits_within_bigint(text):
    assert parse_id(text) == int(text)


@pytest.mark.parametrize(
    "value", ["²", "٣", "1²", "𝟗", "+7", "-7", "0", "", "7.0", "1e3", "0x10", str(2**63), "9" * 40, None, True, 2**64]
)
def test_anything_else_is_no_id(value):
    assert parse_id(value) is None


def test_a_cursor_reads_back_what_was_written():
    when = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    assert decode_cursor(encode_cursor("sw-01", 7), str, int) == ("sw-01", 7)
    assert decode_cursor(encode_cursor(when, 7), dt.datetime, int) == (when, 7)


@pytest.mark.parametrize(
    "cursor",
    [
        NESTED,
        NUL_HOSTNAME,
        cursor_of(["\ud800", 1]),
        cursor_of(["x", 2**70]),
        cursor_of(["x", 0]),
        cursor_of(["x", True]),
        cursor_of(["x", 1.5]),
        cursor_of(["x", 1, 2]),
        cursor_of({"x": 1}),
        cursor_of([["x"], 1]),
        base64.urlsafe_b64encode(b'["x",1e999]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "not a cursor!",
        "=",
    ],
)
def test_a_cursor_a_page_did_not_write_is_refused(cursor):
    with pytest.raises(BadCursor):
        decode_cursor(cursor, str, int)


@pytest.mark.parametrize(
    "opened", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00", "yesterday"]
)
def test_a_time_cursor_must_have_a_zone_and_fit_in_utc(opened):
    with pytest.raises(BadCursor):
        decode_cursor(cursor_of([opened, 1]), dt.datetime, int)


# --- Search terms with NUL --------------------------------------------------------------------------------


IGNORED = "The search contained control characters, so it was ignored"


@pytest.fixture
def customer():
    tenant = build_tenant()
    sku = make_sku(make_license("Catalyst 9300 Network Advantage"))
    tenant.order = make_order(tenant.account, [(sku, 3)], va=tenant.va_a, number="SO-NUL-1")
    tenant.pak_id = pak_id(tenant, tenant.va_a)
    return tenant


@pytest.mark.parametrize("url_name", ["orders", "pak_list"])
def test_a_search_with_nul_is_ignored_and_said_so(client, customer, url_name):
    client.force_login(customer.admin)
    response = client.get(reverse(url_name, args=[customer.account.pk]), {"q": "SO\x00"})
    text = response_text(response)
    assert response.status_code == 200 and IGNORED in text
    listed = customer.order.number if url_name == "orders" else "PAK-"
    assert listed in text  # every result, not a search for "SO\x00"


@pytest.fixture
def partner():
    tenant = build_partner_tenant()
    tenant.line, tenant.customer = held_line(tenant, tenant.default_va)
    return tenant


@pytest.mark.parametrize("url_name", ["partner_holdings", "hand_over_create"])
def test_a_holding_search_with_nul_is_ignored_and_said_so(client, partner, url_name):
    client.force_login(partner.admin)
    response = client.get(reverse(url_name, args=[partner.account.pk]), {"q": "\x00"})
    text = response_text(response)
    assert response.status_code == 200 and IGNORED in text and partner.line.order.number in text


def test_the_hand_over_form_posted_with_a_nul_search_is_shown_again(client, partner):
    client.force_login(partner.admin)
    response = client.post(
        reverse("hand_over_create", args=[partner.account.pk]), {"q": "SO\x00", "customer_domain": ""}
    )
    assert response.status_code == 200 and IGNORED in response_text(response)


# --- Cursors on the instances and alerts pages -------------------------------------------------------------


@pytest.fixture
def devices():
    tenant = build_tenant()
    for i in range(3):
        register(tenant.va_a, hostname=f"sw-{i:02d}")
    return tenant


@pytest.mark.parametrize("url_name", ["instances", "licenses", "policy_reporting"])
def test_a_selector_search_with_nul_is_ignored_and_said_so(client, devices, url_name):
    client.force_login(devices.admin)
    response = client.get(reverse(url_name, args=[devices.account.pk]), {"q": "sw\x00"})
    assert response.status_code == 200 and IGNORED in response_text(response)
    if url_name != "licenses":
        assert "sw-00" in response_text(response)  # every result, not a search for "sw\x00"


@pytest.mark.parametrize("url_name", ["instances", "policy_alerts"])
@pytest.mark.parametrize("key", ["after", "before"])
@pytest.mark.parametrize("cursor", [NESTED, NUL_HOSTNAME, cursor_of(["x", 2**70])], ids=["nested", "nul", "big"])
def test_a_damaged_page_cursor_is_a_400_that_says_what_to_do(client, devices, url_name, key, cursor):
    if url_name == "policy_alerts":
        instance = ProductInstance.objects.filter(smart_account=devices.account).first()
        Alert.objects.create(
            smart_account=devices.account, virtual_account=devices.va_a, product_instance=instance,
            kind=Alert.Kind.OVERDUE, severity="critical", message="Usage report overdue",
        )  # fmt: skip
    client.force_login(devices.admin)
    response = client.get(reverse(url_name, args=[devices.account.pk]), {key: cursor})
    assert response.status_code == 400
    text = response_text(response)
    assert "This page link is damaged or incomplete. Start again from the first page." in text
    assert f'href="{reverse(url_name, args=[devices.account.pk])}"' in text


def test_the_alerts_page_refuses_a_time_cursor_outside_utc(client, devices):
    client.force_login(devices.admin)
    url = reverse("policy_alerts", args=[devices.account.pk])
    for opened in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert client.get(url, {"after": cursor_of([opened, 1])}).status_code == 400


def test_an_instance_cursor_the_page_wrote_still_pages(client, devices, monkeypatch):
    monkeypatch.setattr("licensing.views.instances.InstancesView.page_size", 2)
    client.force_login(devices.admin)
    url = reverse("instances", args=[devices.account.pk])
    first = client.get(url).context["page"]
    second = client.get(url, {"after": first.next_cursor})
    assert second.status_code == 200 and [i.hostname for i in second.context["page"].rows] == ["sw-02"]


# --- Unicode digits in ids ------------------------------------------------------------------------------


def test_a_unicode_digit_in_branch_is_not_found(client, devices):
    client.force_login(devices.admin)
    client.defaults["HTTP_HX_REQUEST"] = "true"  # a branch is what the tree's toggle asks for with htmx
    url = reverse("virtual_accounts", args=[devices.account.pk])
    assert client.get(url, {"branch": "²"}).status_code == 404
    assert client.get(url, {"branch": str(2**64)}).status_code == 404
    assert client.get(url, {"branch": devices.va_a.pk}).status_code == 200


def test_a_unicode_digit_in_created_is_ignored(client, devices):
    client.force_login(devices.admin)
    response = client.get(reverse("va_tokens", args=[devices.account.pk, devices.va_a.pk]), {"created": "²"})
    assert response.status_code == 200 and response.context["created_id"] is None


@pytest.mark.parametrize("url_name", ["licenses", "instances"])
def test_a_unicode_digit_in_the_va_picker_is_ignored(client, devices, url_name):
    client.force_login(devices.admin)
    url = reverse(url_name, args=[devices.account.pk])
    assert client.get(url, {"va": "²"}).status_code == 200
    assert client.get(url, {"va": devices.va_a.pk}).status_code == 302


def test_a_unicode_digit_in_the_upload_va_is_ignored(client, devices):
    client.force_login(devices.admin)
    response = client.get(reverse("policy_usage_upload", args=[devices.account.pk]), {"va": "²"})
    assert response.status_code == 200


def test_a_reservation_started_with_a_unicode_digit_goes_back_to_the_list(client, devices):
    client.force_login(devices.admin)
    response = client.get(reverse("reservation_start", args=[devices.account.pk]), {"va": "²"})
    assert response.status_code == 302
    assert response["Location"] == reverse("reservation_list", args=[devices.account.pk])


@pytest.mark.parametrize("parent", ["²", "٣", str(2**64)])
def test_moving_under_a_posted_unicode_digit_is_refused_with_a_message(client, devices, parent):
    client.force_login(devices.admin)
    va = devices.va_b
    response = client.post(reverse("va_move", args=[devices.account.pk, va.pk]), {"parent": parent}, follow=True)
    assert response.status_code == 200
    assert "Choose a Virtual Account of this Smart Account to move it under." in response_text(response)
    assert VirtualAccount.objects.get(pk=va.pk).parent_id == va.parent_id


@pytest.mark.parametrize("move", ["1-2-3-²", "²-2-3-1", f"1-2-3-{2**64}", "1-2-3"])
def test_a_compliance_fix_with_a_bad_number_is_refused_with_a_message(client, devices, move):
    client.force_login(devices.admin)
    response = client.post(reverse("compliance", args=[devices.account.pk]), {"move": move}, follow=True)
    assert response.status_code == 200
    assert "The proposed fix could not be read; reload the page." in response_text(response)


def test_the_event_log_up_to_the_last_day_there_is(client, devices):
    client.force_login(devices.admin)
    for name in ("account_events", "account_events_csv"):
        response = client.get(reverse(name, args=[devices.account.pk]), {"until": "9999-12-31"})
        assert response.status_code == 200
        assert "va." in response_text(response)  # the VA events are all there


# --- Ids in the path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("account_id", ["0", str(2**63), "9" * 25])
def test_an_account_id_outside_the_id_range_is_not_found(client, devices, account_id):
    client.force_login(devices.admin)
    assert client.get(f"/accounts/{account_id}/licenses/").status_code == 404
    assert client.get(f"/accounts/{devices.account.pk}/virtual-accounts/{account_id}/").status_code == 404


@pytest.mark.parametrize("quantity", ["²", "٣", "+3", str(2**64)])
def test_a_license_transfer_of_an_odd_digit_quantity_is_refused(devices, quantity):
    from django.core.exceptions import ValidationError

    from licensing.services import transfer_licenses

    license = make_license("Catalyst 9300 DNA Advantage")
    with pytest.raises(ValidationError) as refused:
        transfer_licenses(
            actor=devices.admin, source=devices.va_a, target=devices.va_b, license=license, quantity=quantity
        )
    assert refused.value.message_dict == {"quantity": ["Enter a whole number of licenses above 0."]}
