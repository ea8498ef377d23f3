"""Management commands given files and arguments no one should write: each refuses with a line-numbered
message and exit status 1, writes nothing, and never shows a traceback. And the quantity maxima behind
them (licensing.limits), which the services enforce whatever the path: a file, the admin, a PAK, a
hand-over."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import ManagementUtility
from django.urls import reverse

from licensing.limits import MAX_LICENSES_PER_ACCOUNT, MAX_LICENSES_PER_UNIT, MAX_LINE_UNITS
from licensing.models import License, LicenseLot, Order, OrderLine, Pak, PakLine, ProductInstance, Sku
from licensing.reservation_codes import AUTHORIZATION_FORMAT
from licensing.services import accept_hand_over, convert_pak, deposit_order, transfer_to_customer
from tests.factories import default_va, make_user
from tests.licensing.helpers import balance, make_license, make_sku

pytestmark = pytest.mark.django_db

ORDER_HEADER = "order_number,line_number,sku,quantity,smart_account,virtual_account,ordered_by,end_customer\n"
PAK_HEADER = "pak_number,sku,quantity,owner_domain\n"
INT32_PAST = str(2**31)
SKU, ACME = "C9300-NW-A-48", "acme.example.com"


def run(capsys, monkeypatch, *argv: str) -> tuple[int, str]:
    """Run a command as `manage.py` would (exit status, stderr). A crash is an exception out of here."""
    # run_from_argv closes the database connections when it is done; the test's transaction needs its own.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    try:
        ManagementUtility(["manage.py", *argv]).execute()
        status = 0
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.err


def refused(capsys, monkeypatch, *argv: str) -> str:
    status, err = run(capsys, monkeypatch, *argv)
    assert status == 1, err
    return err


@pytest.fixture
def sku():
    return make_sku(make_license("Catalyst 9300 Network Advantage"), code="C9300-NW-A-48")


@pytest.fixture
def pack():
    """A SKU giving the most licenses a unit may give."""
    return make_sku(make_license("Collaboration Flex Named User"), code="FLEX-NU-1000", per_unit=MAX_LICENSES_PER_UNIT)


def nothing_written():
    assert not Order.objects.exists() and not OrderLine.objects.exists() and not LicenseLot.objects.exists()


def write(tmp_path, text: str | bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


# --- import_orders ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"SO-1,1,{SKU},{INT32_PAST},{ACME},,,", f"line 2: quantity {INT32_PAST} is more than the maximum, 1,000,000."),
        (f"SO-1,1,{SKU},{'9' * 30},{ACME},,,", f"line 2: quantity {'9' * 30} is more than the maximum"),
        (f"SO-1,1,{SKU},{'9' * 5000},{ACME},,,", "line 2: quantity 9999"),
        (f"SO-1,{INT32_PAST},{SKU},1,{ACME},,,", f"line 2: line_number {INT32_PAST} is more than the maximum"),
        (f"SO-1,1,{SKU},1,{ACME},,{'x' * 300},", "line 2: ordered_by is 300 characters long; at most 200 fit."),
        (f"SO-\x001,1,{SKU},1,{ACME},,,", "line 2: order_number contains a control character"),
        (f"SO-1,1,{SKU},1,acme\x00.example.com,,,", "line 2: smart_account contains a control character"),
        (f"SO-1,1,{SKU},²,{ACME},,,", "line 2: quantity “²” is not a whole number above 0."),
    ],
    ids=["quantity-int32", "quantity-huge", "quantity-5000-digits", "line-int32", "ordered-by-300", "nul", "nul-domain",
         "superscript"],
)  # fmt: skip
def test_import_orders_refuses_a_bad_cell_with_its_line(tmp_path, capsys, monkeypatch, account, sku, row, message):
    path = write(tmp_path, ORDER_HEADER + "SO-0,1,C9300-NW-A-48,1,acme.example.com,,,\n" + row + "\n", "orders.csv")
    err = refused(capsys, monkeypatch, "import_orders", path, "--no-progress")
    assert "Nothing was imported from this file." in err
    assert message.replace("line 2", "line 3") in err
    nothing_written()


def test_import_orders_refuses_lines_that_add_up_past_the_account_maximum(tmp_path, capsys, monkeypatch, account, pack):
    """Each line is within the per-line maximum; together (3 × 10**9 licenses) they would pass int32."""
    rows = "".join(f"SO-9,{n},FLEX-NU-1000,{MAX_LINE_UNITS},acme.example.com,,,\n" for n in (1, 2, 3))
    err = refused(capsys, monkeypatch, "import_orders", write(tmp_path, ORDER_HEADER + rows, "o.csv"), "--no-progress")
    assert (
        f"line 2: order SO-9: Order SO-9 would bring {account.name} to 3,000,000,000 Collaboration Flex Named User "
        f"licenses; an account holds at most {MAX_LICENSES_PER_ACCOUNT:,} of one license." in err
    )
    nothing_written()


def test_import_orders_refuses_a_file_that_is_not_utf8_naming_the_line(tmp_path, capsys, monkeypatch, sku):
    text = (ORDER_HEADER + "SO-1,1,C9300-NW-A-48,1,,,Caf\xe9,\n").encode("latin-1")
    err = refused(capsys, monkeypatch, "import_orders", write(tmp_path, text, "o.csv"), "--no-progress")
    assert "o.csv, line 2: not UTF-8 text (byte 0xe9)" in err
    nothing_written()


def test_import_orders_refuses_a_cell_past_the_csv_size_limit(tmp_path, capsys, monkeypatch, sku):
    text = ORDER_HEADER + 'SO-1,1,C9300-NW-A-48,1,,,"' + "x" * 200_000 + '",\n'
    err = refused(capsys, monkeypatch, "import_orders", write(tmp_path, text, "o.csv"), "--no-progress")
    assert "o.csv, line 2: not readable as CSV" in err
    nothing_written()


# --- import_paks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"3PAK-0002,{SKU},{INT32_PAST},", f"line 3: quantity {INT32_PAST} is more than the maximum, 1,000,000."),
        ("3PAK-0002,C9300\x00-NW-A-48,1,", "line 3: sku contains a control character"),
        ("3PAK-0002,C9300-NW-A-48,1,acme\x00.example.com", "line 3: owner_domain contains a control character"),
        ("3PAK-0002\n,C9300-NW-A-48,1,", "is not a PAK number"),
    ],
    ids=["quantity-int32", "nul-sku", "nul-owner", "newline"],
)  # fmt: skip
def test_import_paks_refuses_a_bad_cell_with_its_line(tmp_path, capsys, monkeypatch, account, sku, row, message):
    text = PAK_HEADER + "3PAK-0001,C9300-NW-A-48,5,acme.example.com\n" + row + "\n"
    err = refused(capsys, monkeypatch, "import_paks", write(tmp_path, text, "paks.csv"), "--no-progress")
    assert "nothing was loaded" in err and message in err
    assert not Pak.objects.exists() and not PakLine.objects.exists()


# --- load_catalog ----------------------------------------------------------------------------------------


def catalog_text(**license_fields) -> str:
    """A catalog of two licenses, the second with `license_fields`; it starts on line 15."""
    entry = {
        "name": "Catalyst 9500 Network Advantage",
        "tag": "regid.2017-03.com.cisco.C9500_NW_A,1.0_1",
        "product_family": "Catalyst 9500",
        "license_type": "perpetual",
        "skus": [{"code": "C9500-NW-A", "licenses_per_unit": 1}],
    }
    first = {**entry, "name": "First", "tag": "regid.first,1.0_1", "skus": [{"code": "FIRST-1"}]}
    return json.dumps({"format": 1, "licenses": [first, {**entry, **license_fields}]}, indent=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (catalog_text(name="Catalyst\u0000 9500"), "line 16: a text holds a NUL character"),
        (catalog_text(description="\ud800"), "line 26: a text holds an unpaired surrogate"),
        ("[" * 100_000 + "]" * 100_000, "line 1: nested more than 32 deep."),
        (catalog_text(tag=5), "line 15: license 2 (Catalyst 9500 Network Advantage): tag must be text."),
        (catalog_text(skus=[{"code": "X", "licenses_per_unit": "many"}]),
         "line 15: license 2 (regid.2017-03.com.cisco.C9500_NW_A,1.0_1): SKU 1 licenses_per_unit must be a whole"),
        (catalog_text(skus=[{"code": "X", "licenses_per_unit": 2**70}]),
         "licenses_per_unit: Ensure this value is less than or equal to 1000."),
        ('{"licenses": [NaN]}', "not valid JSON (NaN is not a JSON number)"),
        ('{"licenses": [\n1,]}', "line 2: not valid JSON"),
    ],
    ids=["nul", "surrogate", "deep", "tag-number", "sku-text", "per-unit-huge", "nan", "syntax"],
)  # fmt: skip
def test_load_catalog_refuses_a_bad_file_with_its_line(tmp_path, capsys, monkeypatch, text, message):
    path = write(tmp_path, text, "catalog.json")
    err = refused(capsys, monkeypatch, "load_catalog", path)
    assert f"{path}" in err and message in err
    assert not License.objects.filter(tag__startswith="regid.first").exists() and not Sku.objects.exists()


def test_load_catalog_refuses_a_file_that_is_not_utf8(tmp_path, capsys, monkeypatch):
    err = refused(capsys, monkeypatch, "load_catalog", write(tmp_path, b'{"licenses":\n\n [\xff]}', "c.json"))
    assert "c.json, line 3: not UTF-8 text (byte 0xff)" in err


def test_the_shipped_catalog_still_loads(capsys, monkeypatch):
    status, _ = run(capsys, monkeypatch, "load_catalog")
    assert status == 0 and License.objects.count() > 50


# --- verify_authorization --------------------------------------------------------------------------------


def test_verify_authorization_blames_the_code_not_the_key_for_a_lone_surrogate(tmp_path, capsys, monkeypatch):
    document = {"format": AUTHORIZATION_FORMAT, "payload": {"udi": {"pid": "\ud800"}}, "signature": "AAAA"}
    path = write(tmp_path, json.dumps(document, indent=1), "auth.json")
    err = refused(capsys, monkeypatch, "verify_authorization", path)
    assert (
        "NOT VALID. That is not an authorization code: it is not a JSON document (line 5: a text holds an unpaired"
        in err
    )
    assert "key" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "line 1: nested more than 32 deep"),
        ('{"format": "x",\n "payload": {"a": "\\u0000"}}', "line 2: a text holds a NUL character"),
        (b"{\n\xff}", "auth.json, line 2: not UTF-8 text"),
    ],
    ids=["deep", "nul", "binary"],
)
def test_verify_authorization_refuses_a_file_that_is_no_code_with_its_line(
    tmp_path, capsys, monkeypatch, content, message
):
    err = refused(capsys, monkeypatch, "verify_authorization", write(tmp_path, content, "auth.json"))
    assert message in err and "key" not in err


def test_verify_authorization_still_names_a_bad_key(tmp_path, capsys, monkeypatch):
    code = write(tmp_path, json.dumps({"format": AUTHORIZATION_FORMAT, "payload": {}, "signature": "AAAA"}), "a.json")
    key = write(tmp_path, "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", "key.pem")
    err = refused(capsys, monkeypatch, "verify_authorization", code, "--public-key", key)
    assert "key.pem: not a public key" in err


# --- Other commands' arguments ---------------------------------------------------------------------------


def test_verify_ledger_names_no_account_for_a_nul_domain(capsys, monkeypatch, account):
    assert "No Smart Account has the domain" in refused(capsys, monkeypatch, "verify_ledger", "--account", "acme\x00")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--now", "9999-12-31T23:59:59-01:00"), "--now must be from 1970-01-01 to 9000-01-01 (UTC)."),
        (("--now", "0001-01-01T00:00:00+01:00"), "--now must be from 1970-01-01 to 9000-01-01 (UTC)."),
        (("--batch-size", "-5"), "--batch-size must be at least 1."),
    ],
)
def test_evaluate_deadlines_refuses_arguments_it_cannot_use(capsys, monkeypatch, account, argv, message):
    from tests.licensing.helpers import register

    register(default_va(account), hostname="sw-01")
    assert message in refused(capsys, monkeypatch, "evaluate_deadlines", *argv)


def test_ingest_usage_reads_the_virtual_account_id_as_ascii_digits(tmp_path, capsys, monkeypatch, account):
    path = write(tmp_path, "{}", "reports.json")
    va = default_va(account)
    odd = "".join(chr(0x0660 + int(d)) for d in str(va.pk))  # the same number in Arabic-Indic digits
    assert f"No Virtual Account with id {odd}." in refused(
        capsys, monkeypatch, "ingest_usage", path, "--virtual-account", odd, "--no-progress"
    )


@pytest.mark.parametrize("scale", ["nan", "inf", "0", "1e300"])
def test_generate_estate_refuses_a_scale_outside_its_range(capsys, monkeypatch, scale):
    assert "--scale must be above 0 and at most 5." in refused(capsys, monkeypatch, "generate_estate", "--scale", scale)


def test_simulate_device_refuses_an_argument_that_is_not_utf8(capsys, monkeypatch):
    # Python hands over an argument's bytes that are not UTF-8 as lone surrogates.
    err = refused(capsys, monkeypatch, "simulate_device", "request", "--pid", "C9300\udcff")
    assert "--pid holds a control character or bytes that are not UTF-8." in err


# --- The maxima in the services (any path) ---------------------------------------------------------------


def test_the_admin_refuses_an_order_line_past_the_unit_maximum(client, account, sku):
    client.force_login(make_user("ops@operator.example.net", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:licensing_order_add"),
        {
            "number": "SO-ADMIN-BIG", "ordered_by": "", "end_customer": "", "smart_account": account.pk,
            "virtual_account": "", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000", "lines-0-line_number": "1", "lines-0-sku": sku.pk,
            "lines-0-quantity": INT32_PAST,
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 1000000." in response.content.decode()
    nothing_written()


def test_a_deposit_past_the_account_maximum_is_refused_and_writes_nothing(account, pack):
    order = Order.objects.create(number="SO-BIG", smart_account=account)
    for n in (1, 2):
        OrderLine.objects.create(order=order, line_number=n, sku=pack, quantity=600_000)  # 2 × 6 × 10**8
    with pytest.raises(ValidationError, match="an account holds at most 1,000,000,000 of one license"):
        deposit_order(order=order)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING and not LicenseLot.objects.exists()


def test_up_to_the_account_maximum_is_deposited(account, pack):
    order = Order.objects.create(number="SO-MAX", smart_account=account)
    OrderLine.objects.create(order=order, line_number=1, sku=pack, quantity=MAX_LINE_UNITS)
    assert deposit_order(order=order).status == Order.Status.DEPOSITED
    assert balance(default_va(account), pack.license).purchased == MAX_LICENSES_PER_ACCOUNT


def test_the_database_refuses_a_line_past_the_maxima(account, sku):
    from django.db import IntegrityError, transaction

    order = Order.objects.create(number="SO-DB", smart_account=account)
    for kwargs in ({"quantity": MAX_LINE_UNITS + 1, "line_number": 1}, {"quantity": 1, "line_number": 2**31 - 1}):
        with pytest.raises(IntegrityError), transaction.atomic():
            OrderLine.objects.create(order=order, sku=sku, **kwargs)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.create(code="TOO-MANY", license=sku.license, licenses_per_unit=MAX_LICENSES_PER_UNIT + 1)


def test_a_pak_conversion_past_the_account_maximum_is_refused(account, pack):
    admin = account.created_by
    order = Order.objects.create(number="SO-NEAR", smart_account=account)
    OrderLine.objects.create(order=order, line_number=1, sku=pack, quantity=MAX_LINE_UNITS)
    deposit_order(order=order)  # the account now holds the maximum
    pak = Pak.objects.create(number="3PAK-FULL-0001", owner=account)
    PakLine.objects.create(pak=pak, sku=pack, quantity=1)
    with pytest.raises(ValidationError, match="an account holds at most 1,000,000,000 of one license"):
        convert_pak(actor=admin, pak=pak, virtual_account=default_va(account), lines=None)
    assert PakLine.objects.get(pak=pak).converted_quantity == 0


def test_accepting_a_hand_over_past_the_account_maximum_is_refused(account, pack):
    from tests.licensing.workflows.helpers import make_order, make_partner

    full = Order.objects.create(number="SO-FULL", smart_account=account)
    OrderLine.objects.create(order=full, line_number=1, sku=pack, quantity=MAX_LINE_UNITS)
    deposit_order(order=full)
    partner = make_partner()
    held = make_order(partner, [(pack, 1)])
    hand_over = transfer_to_customer(
        actor=partner.created_by, order_lines={held.lines.get(): 1}, customer_account=account
    )
    with pytest.raises(ValidationError, match="Hand-over .* would bring"):
        accept_hand_over(actor=account.created_by, hand_over=hand_over, virtual_account=default_va(account))
    assert balance(default_va(account), pack.license).purchased == MAX_LICENSES_PER_ACCOUNT
    assert not ProductInstance.objects.exists()
