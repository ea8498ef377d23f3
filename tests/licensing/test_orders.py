"""Orders: deposit into the account and VA, Smart Account hold, the admin, and the CSV import."""

import datetime as dt
import textwrap

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from licensing.models import LedgerEntry, LicenseLot, Order, OrderLine
from licensing.services import add_months, assign_order_account, deposit_held_orders, deposit_order
from smartaccounts import services as sa_services
from smartaccounts.models import Event, SmartAccount
from tests.factories import default_va, make_staff, make_user, make_va

from .helpers import assert_ledger_clean, balance, make_license, make_order, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    perpetual = make_license("Catalyst 9300 Network Advantage")
    term = make_license("Catalyst 9300 DNA Advantage", license_type="term")
    return {
        "perpetual": perpetual,
        "term": term,
        "sku_perpetual": make_sku(perpetual, code="C9300-NW-A-48"),
        "sku_pack": make_sku(perpetual, code="C9300-NW-A-48-10PK", per_unit=10),
        "sku_term": make_sku(term, code="C9300-DNA-A-48-3Y", term_months=36),
    }


def pending_partner(domain="partner.example.com"):
    creator = make_user(f"owner@{domain}")
    return sa_services.create_smart_account(
        creator=creator, name="Northwind Holding", domain=domain, kind=SmartAccount.Kind.PARTNER_HOLDING
    )


def test_an_order_deposits_into_the_va_named_at_ordering(account, catalog):
    va = make_va(account, "Campus")
    order = make_order(account, [(catalog["sku_perpetual"], 7), (catalog["sku_pack"], 2)], va=va)
    assert order.status == Order.Status.DEPOSITED and order.virtual_account == va
    assert balance(va, catalog["perpetual"]).purchased == 7 + 2 * 10
    assert LedgerEntry.objects.filter(kind="deposit", virtual_account=va).count() == 2
    event = Event.objects.get(action="order.deposited")
    assert order.number in event.message and event.virtual_account == va
    assert_ledger_clean()


def test_an_order_without_a_va_deposits_into_the_default_va(account, catalog):
    order = make_order(account, [(catalog["sku_perpetual"], 3)])
    assert order.virtual_account == default_va(account)
    assert balance(default_va(account), catalog["perpetual"]).purchased == 3


def test_depositing_an_order_twice_deposits_once(account, catalog):
    order = make_order(account, [(catalog["sku_perpetual"], 5)])
    again = deposit_order(order=order)
    assert again.status == Order.Status.DEPOSITED
    assert balance(default_va(account), catalog["perpetual"]).purchased == 5
    assert LedgerEntry.objects.filter(kind="deposit").count() == 1


def test_term_lines_take_their_dates_from_the_line_or_the_sku_default(account, catalog):
    start, end = dt.date(2026, 1, 1), dt.date(2027, 6, 30)
    make_order(account, [(catalog["sku_term"], 4, start, end), (catalog["sku_term"], 2)])
    lots = {lot.quantity: lot for lot in LicenseLot.objects.filter(license=catalog["term"])}
    assert (lots[4].start_date, lots[4].end_date) == (start, end)
    today = timezone.localdate()
    assert (lots[2].start_date, lots[2].end_date) == (today, add_months(today, 36))
    perpetual = make_order(account, [(catalog["sku_perpetual"], 1)])
    assert LicenseLot.objects.get(order_line__order=perpetual).end_date is None


def test_add_months_keeps_the_day_or_takes_the_month_end():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2026, 11, 15), 36) == dt.date(2029, 11, 15)


def test_an_order_without_an_account_waits_on_smart_account_hold(catalog):
    order = make_order(None, [(catalog["sku_perpetual"], 5)])
    assert order.status == Order.Status.ON_HOLD
    assert order.get_status_display() == "Smart Account hold"
    assert "no Smart Account" in order.hold_reason
    assert not LicenseLot.objects.exists()


def test_an_order_for_a_pending_account_is_deposited_when_staff_approve_it(catalog):
    partner = pending_partner()
    order = make_order(partner, [(catalog["sku_perpetual"], 8)])
    assert order.status == Order.Status.ON_HOLD and "pending approval" in order.hold_reason
    staff = make_staff("ops@operator.example.net", "smartaccounts.change_smartaccount")
    sa_services.approve_smart_account(actor=staff, smart_account=partner)
    order.refresh_from_db()
    assert order.status == Order.Status.DEPOSITED
    assert balance(default_va(partner), catalog["perpetual"]).purchased == 8
    assert_ledger_clean()


def test_staff_assign_an_active_account_to_a_held_order_and_it_is_deposited(account, catalog):
    order = make_order(None, [(catalog["sku_perpetual"], 2)])
    staff = make_staff("ops@operator.example.net", "licensing.change_order")
    with pytest.raises(PermissionDenied):
        assign_order_account(actor=account.created_by, order=order, smart_account=account)
    va = make_va(account, "Plant")
    order = assign_order_account(actor=staff, order=order, smart_account=account, virtual_account=va)
    assert order.status == Order.Status.DEPOSITED and balance(va, catalog["perpetual"]).purchased == 2
    with pytest.raises(ValidationError, match="already deposited"):
        assign_order_account(actor=staff, order=order, smart_account=account)


def test_deposit_held_orders_deposits_every_waiting_order_of_the_account(catalog):
    partner = pending_partner("reseller.example.org")
    first = make_order(partner, [(catalog["sku_perpetual"], 1)])
    second = make_order(partner, [(catalog["sku_term"], 1)])
    SmartAccount.objects.filter(pk=partner.pk).update(status="active")
    partner.refresh_from_db()
    deposited = deposit_held_orders(smart_account=partner)
    assert {o.number for o in deposited} == {first.number, second.number}
    assert all(o.status == Order.Status.DEPOSITED for o in deposited)


def test_an_order_naming_a_va_of_another_account_is_refused(account, other_account, catalog):
    order = make_order(account, [(catalog["sku_perpetual"], 1)], va=default_va(other_account), deposit=False)
    with pytest.raises(ValidationError, match="not in Acme Networks"):
        deposit_order(order=order)
    assert not LicenseLot.objects.exists()


# --- The admin -------------------------------------------------------------------------------------------


def test_staff_enter_an_order_with_lines_in_the_admin_and_it_is_deposited(client, account, catalog):
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    client.force_login(staff)
    va = make_va(account, "Warehouse")
    response = client.post(
        reverse("admin:licensing_order_add"),
        {
            "number": "SO-ADMIN-1",
            "ordered_by": "Acme reseller",
            "end_customer": "Acme",
            "smart_account": account.pk,
            "virtual_account": va.pk,
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-line_number": "1",
            "lines-0-sku": catalog["sku_perpetual"].pk,
            "lines-0-quantity": "12",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    order = Order.objects.get(number="SO-ADMIN-1")
    assert order.status == Order.Status.DEPOSITED
    assert balance(va, catalog["perpetual"]).purchased == 12
    # A deposited order is read-only: its lines can no longer change what was deposited.
    page = client.get(reverse("admin:licensing_order_change", args=[order.pk])).content.decode()
    assert 'name="lines-0-quantity"' not in page


def test_the_admin_action_deposits_held_orders_whose_account_became_active(client, account, catalog):
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    order = make_order(None, [(catalog["sku_perpetual"], 4)])
    Order.objects.filter(pk=order.pk).update(smart_account=account)
    client.force_login(staff)
    client.post(
        reverse("admin:licensing_order_changelist"), {"action": "deposit_selected", "_selected_action": [order.pk]}
    )
    order.refresh_from_db()
    assert order.status == Order.Status.DEPOSITED


# --- CSV import -----------------------------------------------------------------------------------------


def write_csv(tmp_path, text: str, name="orders.csv"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return str(path)


@pytest.fixture
def csv_file(tmp_path, account, catalog):
    make_va(account, "Campus")
    return write_csv(
        tmp_path,
        """
        order_number,line_number,sku,quantity,smart_account,virtual_account,ordered_by,end_customer,term_start,term_end
        SO-2001,1,C9300-NW-A-48,10,acme.example.com,Campus,Distri Inc,Acme,,
        SO-2001,2,C9300-DNA-A-48-3Y,10,acme.example.com,Campus,Distri Inc,Acme,2026-01-01,2029-01-01
        SO-2002,1,C9300-NW-A-48-10PK,2,acme.example.com,,Distri Inc,Acme,,
        SO-2003,1,C9300-NW-A-48,3,,,Distri Inc,Unknown yet,,
        """,
    )


def test_import_orders_imports_and_deposits_every_order_of_the_file(csv_file, account, catalog, capsys):
    call_command("import_orders", csv_file, "--no-progress")
    out = capsys.readouterr().out
    assert "3 order(s) imported (2 deposited, 1 on Smart Account hold)" in out
    campus = account.virtual_accounts.get(name="Campus")
    assert balance(campus, catalog["perpetual"]).purchased == 10
    assert balance(campus, catalog["term"]).purchased == 10
    assert balance(default_va(account), catalog["perpetual"]).purchased == 20
    assert Order.objects.get(number="SO-2003").status == Order.Status.ON_HOLD
    lot = LicenseLot.objects.get(license=catalog["term"])
    assert (lot.start_date, lot.end_date) == (dt.date(2026, 1, 1), dt.date(2029, 1, 1))
    assert_ledger_clean()


def test_importing_the_same_file_twice_imports_nothing_new(csv_file, account, catalog, capsys):
    call_command("import_orders", csv_file, "--no-progress")
    entries = LedgerEntry.objects.count()
    call_command("import_orders", csv_file, "--no-progress")
    assert "0 order(s) imported (0 deposited, 0 on Smart Account hold); 3 already imported, skipped." in (
        capsys.readouterr().out
    )
    assert Order.objects.count() == 3 and OrderLine.objects.count() == 4
    assert LedgerEntry.objects.count() == entries


def test_the_import_shows_a_progress_bar(csv_file, capsys):
    call_command("import_orders", csv_file)
    assert "Importing orders" in capsys.readouterr().err


def test_a_bad_row_refuses_the_whole_file_with_line_numbers(tmp_path, account, catalog):
    path = write_csv(
        tmp_path,
        """
        order_number,line_number,sku,quantity,smart_account,virtual_account
        SO-3001,1,C9300-NW-A-48,10,acme.example.com,
        SO-3002,1,NO-SUCH-SKU,10,acme.example.com,
        SO-3003,1,C9300-NW-A-48,-2,acme.example.com,
        SO-3004,1,C9300-NW-A-48,1,nobody.example.com,
        SO-3005,1,C9300-NW-A-48,1,acme.example.com,Nowhere
        """,
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_orders", path, "--no-progress")
    message = str(raised.value)
    assert "Nothing was imported from this file." in message
    assert "line 3: unknown SKU “NO-SUCH-SKU”" in message
    assert "line 4: quantity “-2” is not a whole number above 0." in message
    assert "line 5: no Smart Account has the domain “nobody.example.com”." in message
    assert "line 6: Acme Networks has no Virtual Account named “Nowhere”." in message
    assert not Order.objects.exists() and not LicenseLot.objects.exists()


def test_an_order_imported_before_with_other_lines_is_an_error(tmp_path, account, catalog):
    first = write_csv(tmp_path, "order_number,sku,quantity,smart_account\nSO-4001,C9300-NW-A-48,5,acme.example.com\n")
    call_command("import_orders", first, "--no-progress")
    changed = write_csv(
        tmp_path,
        "order_number,sku,quantity,smart_account\nSO-4002,C9300-NW-A-48,1,acme.example.com\n"
        "SO-4001,C9300-NW-A-48,6,acme.example.com\n",
        name="changed.csv",
    )
    with pytest.raises(CommandError, match="line 3: order SO-4001 was imported before with different lines"):
        call_command("import_orders", changed, "--no-progress")
    assert not Order.objects.filter(number="SO-4002").exists()


def test_rows_of_one_order_must_agree_on_the_account(tmp_path, account, other_account, catalog):
    path = write_csv(
        tmp_path,
        "order_number,sku,quantity,smart_account\nSO-5001,C9300-NW-A-48,1,acme.example.com\n"
        "SO-5001,C9300-NW-A-48-10PK,1,globex.example.org\n",
    )
    with pytest.raises(CommandError, match="line 3: order SO-5001 has a different smart_account than on line 2"):
        call_command("import_orders", path, "--no-progress")


def test_unknown_columns_are_refused_naming_the_columns(tmp_path, catalog):
    path = write_csv(tmp_path, "order,sku,qty\nSO-1,C9300-NW-A-48,1\n")
    with pytest.raises(CommandError, match="missing column"):
        call_command("import_orders", path, "--no-progress")
