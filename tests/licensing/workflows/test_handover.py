"""Partner holding hand-overs, through the services: every rule and every refusal."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from licensing.models import HandOver, LedgerEntry, LicenseLot
from licensing.services import (
    NO_ELIGIBLE_CUSTOMER,
    accept_hand_over,
    add_months,
    cancel_hand_over,
    decline_hand_over,
    transfer_to_customer,
)
from licensing.tasks import expire_stale_hand_overs
from smartaccounts import services as sa_services
from smartaccounts.models import Event, SmartAccount
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import (
    assert_ledger_consistent,
    balance,
    held,
    in_transit,
    make_license,
    make_order,
    make_partner,
    make_sku,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    partner = make_partner("Northwind Partners Holding")
    partner_admin = partner.created_by
    customer = make_account(name="Globex Manufacturing", domain="globex-mfg.example.com")
    customer_admin = customer.created_by
    perpetual = make_license("Catalyst 9300 DNA Advantage")
    term = make_license("Catalyst 9300 DNA Essentials Term", license_type="term")
    sku_perpetual = make_sku(perpetual, "C9300-DNA-A-48")
    sku_term = make_sku(term, "C9300-DNA-E-48-3Y", term_months=36)
    order = make_order(partner, [(sku_perpetual, 10), (sku_term, 5)], number="SO-1001")
    line_1, line_2 = order.lines.order_by("line_number")
    return {
        "partner": partner,
        "partner_admin": partner_admin,
        "customer": customer,
        "customer_admin": customer_admin,
        "perpetual": perpetual,
        "term": term,
        "order": order,
        "line_1": line_1,
        "line_2": line_2,
        "partner_va": default_va(partner),
        "customer_va": default_va(customer),
    }


def test_handing_over_part_of_two_order_lines_puts_the_licenses_in_transit(setup):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 4, s["line_2"]: 5}, customer_account=s["customer"]
    )
    assert hand_over.status == HandOver.Status.PENDING
    assert {(line.order_line_id, line.quantity) for line in hand_over.lines.all()} == {
        (s["line_1"].pk, 4),
        (s["line_2"].pk, 5),
    }
    # The licenses left the holding VA and are in no VA at all while the hand-over is pending.
    assert held(s["partner"], s["line_1"]) == 6
    assert held(s["partner"], s["line_2"]) == 0
    assert balance(s["partner_va"], s["perpetual"]).purchased == 6
    assert in_transit(hand_over) == 9
    assert not LicenseLot.objects.filter(virtual_account__smart_account=s["customer"]).exists()
    assert_ledger_consistent()


def test_the_customer_admins_are_emailed_about_a_new_hand_over(setup, django_capture_on_commit_callbacks):
    s = setup
    with django_capture_on_commit_callbacks(execute=True):
        hand_over = transfer_to_customer(
            actor=s["partner_admin"], order_lines={s["line_1"]: 2}, customer_account=s["customer"]
        )
    [message] = [m for m in mail.outbox if s["customer_admin"].email in m.to]
    assert "Northwind Partners Holding" in message.subject
    assert "SO-1001" in message.body and "2 × Catalyst 9300 DNA Advantage" in message.body
    assert f"/incoming/{hand_over.pk}/" in message.body


def test_accepting_moves_every_line_into_the_chosen_virtual_account(setup):
    s = setup
    target = make_va(s["customer"], "Campus Switching")
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 4, s["line_2"]: 5}, customer_account=s["customer"]
    )
    accept_hand_over(actor=s["customer_admin"], hand_over=hand_over, virtual_account=target)
    hand_over.refresh_from_db()
    assert hand_over.status == HandOver.Status.ACCEPTED
    assert hand_over.virtual_account == target and hand_over.decided_by == s["customer_admin"]
    assert balance(target, s["perpetual"]).purchased == 4
    assert balance(target, s["term"]).purchased == 5
    assert in_transit(hand_over) == 0
    # The lots keep their order line as their source.
    assert set(LicenseLot.objects.filter(virtual_account=target).values_list("order_line_id", flat=True)) == {
        s["line_1"].pk,
        s["line_2"].pk,
    }
    assert_ledger_consistent()


def test_term_licenses_start_their_term_on_the_day_the_customer_accepts(setup):
    s = setup
    # The partner's lot started its term long ago; the customer's starts today for the full 36 months.
    lot = LicenseLot.objects.get(order_line=s["line_2"], virtual_account=s["partner_va"])
    assert lot.start_date == timezone.localdate()
    LicenseLot.objects.filter(pk=lot.pk).update(start_date=date(2024, 1, 1), end_date=date(2027, 1, 1))
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_2"]: 3}, customer_account=s["customer"]
    )
    transit = LicenseLot.objects.get(in_transit=hand_over)
    assert (transit.term_months, transit.start_date, transit.end_date) == (36, None, None)
    accept_hand_over(actor=s["customer_admin"], hand_over=hand_over, virtual_account=s["customer_va"])
    accepted = LicenseLot.objects.get(virtual_account=s["customer_va"], license=s["term"])
    today = timezone.localdate()
    assert (accepted.start_date, accepted.end_date, accepted.quantity) == (today, add_months(today, 36), 3)


def test_perpetual_licenses_keep_no_term_when_accepted(setup):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 1}, customer_account=s["customer"]
    )
    accept_hand_over(actor=s["customer_admin"], hand_over=hand_over, virtual_account=s["customer_va"])
    lot = LicenseLot.objects.get(virtual_account=s["customer_va"])
    assert (lot.start_date, lot.end_date, lot.term_months) == (None, None, None)


def test_declining_returns_the_licenses_to_the_partner_with_the_reason(setup, django_capture_on_commit_callbacks):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 4, s["line_2"]: 5}, customer_account=s["customer"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        decline_hand_over(actor=s["customer_admin"], hand_over=hand_over, reason="We ordered DNA Essentials only.")
    hand_over.refresh_from_db()
    assert hand_over.status == HandOver.Status.DECLINED
    assert hand_over.reason == "We ordered DNA Essentials only."
    assert held(s["partner"], s["line_1"]) == 10 and held(s["partner"], s["line_2"]) == 5
    # The term licenses are back in the lot they left, with its dates.
    assert LicenseLot.objects.filter(order_line=s["line_2"], virtual_account=s["partner_va"]).count() == 1
    [message] = [m for m in mail.outbox if s["partner_admin"].email in m.to]
    assert "We ordered DNA Essentials only." in message.body
    assert_ledger_consistent()


def test_declining_needs_a_reason_and_the_admin_role(setup):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 1}, customer_account=s["customer"]
    )
    with pytest.raises(ValidationError, match="Give a reason: the partner reads it."):
        decline_hand_over(actor=s["customer_admin"], hand_over=hand_over, reason="   ")
    customer_user = grant(make_user("user@globex-mfg.example.com"), "user", account=s["customer"])
    with pytest.raises(PermissionDenied):
        decline_hand_over(actor=customer_user, hand_over=hand_over, reason="No")
    with pytest.raises(PermissionDenied):
        decline_hand_over(actor=s["partner_admin"], hand_over=hand_over, reason="No")
    assert HandOver.objects.get(pk=hand_over.pk).status == HandOver.Status.PENDING


def test_a_customer_user_accepts_into_a_virtual_account_they_may_operate_on(setup):
    s = setup
    lab = make_va(s["customer"], "Lab")
    other = make_va(s["customer"], "Finance")
    va_user = grant(make_user("lab-user@globex-mfg.example.com"), "user", va=lab)
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 2}, customer_account=s["customer"]
    )
    with pytest.raises(PermissionDenied):
        accept_hand_over(actor=va_user, hand_over=hand_over, virtual_account=other)
    with pytest.raises(PermissionDenied, match="Choose one of your own Virtual Accounts"):
        accept_hand_over(actor=s["customer_admin"], hand_over=hand_over, virtual_account=s["partner_va"])
    accept_hand_over(actor=va_user, hand_over=hand_over, virtual_account=lab)
    assert balance(lab, s["perpetual"]).purchased == 2


def test_the_partner_cancels_a_pending_hand_over(setup, django_capture_on_commit_callbacks):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 10}, customer_account=s["customer"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        cancel_hand_over(actor=s["partner_admin"], hand_over=hand_over)
    hand_over.refresh_from_db()
    assert hand_over.status == HandOver.Status.CANCELLED
    assert held(s["partner"], s["line_1"]) == 10
    assert any(s["customer_admin"].email in m.to and "cancelled" in m.subject for m in mail.outbox)
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("decide", "state"),
    [
        ("accept", "the customer has accepted it"),
        ("decline", "the customer has declined it"),
        ("cancel", "the partner has cancelled it"),
    ],
)
def test_a_decided_hand_over_cannot_be_decided_again(setup, decide, state):
    s = setup
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 3}, customer_account=s["customer"]
    )
    actions = {
        "accept": lambda: accept_hand_over(
            actor=s["customer_admin"], hand_over=hand_over, virtual_account=s["customer_va"]
        ),
        "decline": lambda: decline_hand_over(actor=s["customer_admin"], hand_over=hand_over, reason="Not ours"),
        "cancel": lambda: cancel_hand_over(actor=s["partner_admin"], hand_over=hand_over),
    }
    actions[decide]()
    for verb, again in actions.items():
        past = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}[verb]
        with pytest.raises(ValidationError, match=f"can no longer be {past}: {state}"):
            again()
    assert_ledger_consistent()


def test_only_an_active_customer_account_can_receive_a_hand_over(setup):
    s = setup
    limited = make_account(kind="limited_use")
    other_partner = make_partner("Contoso Holding")
    pending = sa_services.create_smart_account(
        creator=make_user("admin@pending-customer.example.com"),
        name="Pending Customer",
        domain="pending-customer.example.com",
        kind="customer",
    )
    SmartAccount.objects.filter(pk=pending.pk).update(status=SmartAccount.Status.PENDING)
    for account in (limited, other_partner, s["partner"], pending):
        with pytest.raises(ValidationError) as refused:
            transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 1}, customer_account=account)
        assert refused.value.messages == [NO_ELIGIBLE_CUSTOMER]
    assert held(s["partner"], s["line_1"]) == 10


def test_more_than_is_still_held_is_refused_with_the_quantity_held(setup):
    s = setup
    transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 8}, customer_account=s["customer"])
    with pytest.raises(ValidationError) as refused:
        transfer_to_customer(
            actor=s["partner_admin"], order_lines={s["line_1"]: 3, s["line_2"]: 6}, customer_account=s["customer"]
        )
    assert refused.value.messages == [
        "Order SO-1001 line 1 (C9300-DNA-A-48): only 2 licenses are still held, not 3.",
        "Order SO-1001 line 2 (C9300-DNA-E-48-3Y): only 5 licenses are still held, not 6.",
    ]
    assert HandOver.objects.count() == 1


@pytest.mark.parametrize("quantity", [0, -2, 1.5, True])
def test_quantities_are_whole_numbers_of_at_least_one(setup, quantity):
    s = setup
    with pytest.raises(ValidationError, match="Quantities are whole numbers of at least 1"):
        transfer_to_customer(
            actor=s["partner_admin"], order_lines={s["line_1"]: quantity}, customer_account=s["customer"]
        )


def test_nothing_chosen_is_refused(setup):
    s = setup
    with pytest.raises(ValidationError, match="Choose at least one order line"):
        transfer_to_customer(actor=s["partner_admin"], order_lines={}, customer_account=s["customer"])


def test_only_a_partner_holding_account_hands_over(setup):
    s = setup
    own = make_order(s["customer"], [(s["line_1"].sku, 2)])
    other = make_account(name="Initech", domain="initech.example.com")
    with pytest.raises(ValidationError, match="only a Partner Holding account hands licenses over"):
        transfer_to_customer(actor=s["customer_admin"], order_lines={own.lines.get(): 1}, customer_account=other)


def test_order_lines_of_two_accounts_are_refused(setup):
    s = setup
    other = make_order(make_partner("Contoso Holding"), [(s["line_1"].sku, 2)])
    with pytest.raises(ValidationError, match="held by one Partner Holding account"):
        transfer_to_customer(
            actor=s["partner_admin"],
            order_lines={s["line_1"]: 1, other.lines.get(): 1},
            customer_account=s["customer"],
        )


def test_a_pending_partner_holding_account_cannot_hand_over(setup):
    s = setup
    SmartAccount.objects.filter(pk=s["partner"].pk).update(status=SmartAccount.Status.PENDING)
    with pytest.raises(ValidationError, match="waiting for approval by staff"):
        transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 1}, customer_account=s["customer"])


def test_a_viewer_of_the_holding_account_cannot_hand_over(setup):
    s = setup
    viewer = grant(make_user(f"viewer@{s['partner'].domain}"), "viewer", account=s["partner"])
    with pytest.raises(PermissionDenied):
        transfer_to_customer(actor=viewer, order_lines={s["line_1"]: 1}, customer_account=s["customer"])
    outsider = make_user("someone@elsewhere.example.org")
    with pytest.raises(PermissionDenied):
        transfer_to_customer(actor=outsider, order_lines={s["line_1"]: 1}, customer_account=s["customer"])


def test_a_va_scoped_user_hands_over_only_what_their_virtual_accounts_hold(setup):
    s = setup
    resale = make_va(s["partner"], "Resale", actor=s["partner_admin"])
    order = make_order(s["partner"], [(s["line_1"].sku, 6)], va=resale, number="SO-2002")
    va_user = grant(make_user(f"desk@{s['partner'].domain}"), "user", va=resale)
    with pytest.raises(ValidationError, match="only 0 licenses are still held in the Virtual Accounts you may operate"):
        transfer_to_customer(actor=va_user, order_lines={s["line_1"]: 1}, customer_account=s["customer"])
    hand_over = transfer_to_customer(actor=va_user, order_lines={order.lines.get(): 6}, customer_account=s["customer"])
    assert in_transit(hand_over) == 6
    # Cancelling needs a role on the Virtual Accounts the licenses return to.
    other_user = grant(make_user(f"other@{s['partner'].domain}"), "user", va=make_va(s["partner"], "Other"))
    with pytest.raises(PermissionDenied):
        cancel_hand_over(actor=other_user, hand_over=hand_over)
    cancel_hand_over(actor=va_user, hand_over=hand_over)
    assert balance(resale, s["perpetual"]).purchased == 6


def test_licenses_whose_virtual_account_was_deleted_meanwhile_return_to_the_default(setup):
    s = setup
    resale = make_va(s["partner"], "Resale", actor=s["partner_admin"])
    order = make_order(s["partner"], [(s["line_1"].sku, 3)], va=resale, number="SO-3003")
    hand_over = transfer_to_customer(
        actor=s["partner_admin"], order_lines={order.lines.get(): 3}, customer_account=s["customer"]
    )
    sa_services.delete_virtual_account(actor=s["partner_admin"], virtual_account=resale)
    decline_hand_over(actor=s["customer_admin"], hand_over=hand_over, reason="Wrong customer")
    assert balance(s["partner_va"], s["perpetual"]).purchased == 13
    assert_ledger_consistent()


def test_both_event_logs_record_each_step_and_the_partner_log_names_no_customer_person_or_va(setup):
    s = setup
    secret_va = make_va(s["customer"], "Secret Research Lab")
    first = transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 2}, customer_account=s["customer"])
    accept_hand_over(actor=s["customer_admin"], hand_over=first, virtual_account=secret_va)
    second = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_1"]: 2}, customer_account=s["customer"]
    )
    decline_hand_over(actor=s["customer_admin"], hand_over=second, reason="Duplicate")
    third = transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 2}, customer_account=s["customer"])
    cancel_hand_over(actor=s["partner_admin"], hand_over=third)

    def actions(account):
        return list(Event.objects.filter(smart_account=account, action__startswith="hand_over.").values_list(
            "action", flat=True).order_by("pk"))  # fmt: skip

    steps = ["created", "accepted", "created", "declined", "created", "cancelled"]
    assert actions(s["partner"]) == [f"hand_over.{a}" for a in steps]
    assert actions(s["customer"]) == [f"hand_over.{a.replace('created', 'offered')}" for a in steps]
    partner_events = Event.objects.filter(smart_account=s["partner"], action__startswith="hand_over.")
    for event in partner_events:
        text = f"{event.message} {event.details} {event.actor_id}"
        assert "Secret Research Lab" not in text
        assert s["customer_admin"].email not in text
        assert event.actor in (None, s["partner_admin"])


def test_stale_hand_overs_are_declined_automatically_after_30_days(setup, django_capture_on_commit_callbacks):
    s = setup
    old = transfer_to_customer(actor=s["partner_admin"], order_lines={s["line_1"]: 4}, customer_account=s["customer"])
    recent = transfer_to_customer(
        actor=s["partner_admin"], order_lines={s["line_2"]: 2}, customer_account=s["customer"]
    )
    HandOver.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30, minutes=1))
    HandOver.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=29, hours=23))
    with django_capture_on_commit_callbacks(execute=True):
        result = expire_stale_hand_overs.delay().get()
    assert result == {"expired": 1}
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == HandOver.Status.EXPIRED and recent.status == HandOver.Status.PENDING
    assert held(s["partner"], s["line_1"]) == 10
    subjects = [m.subject for m in mail.outbox]
    assert sum("declined automatically" in subject for subject in subjects) == 2
    assert Event.objects.filter(action="hand_over.expired").count() == 2
    # Running it again changes nothing.
    assert expire_stale_hand_overs.delay().get() == {"expired": 0}
    assert LedgerEntry.objects.filter(hand_over=old, kind=LedgerEntry.Kind.HAND_OVER_RETURN).count() == 2
    assert_ledger_consistent()


def test_the_auto_decline_runs_hourly_from_beat_and_expires_within_the_hour():
    task = PeriodicTask.objects.get(task="licensing.expire_stale_hand_overs")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "hours"
    assert task.expire_seconds == 3600
