"""The daily e-mail to each account's Admins: product instances that became overdue since the last one."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from smartaccounts.models import SmartAccount
from smartaccounts.services import account_admin_emails, notify, portal_url, record_event

from ..models import Alert

__all__ = ["DIGEST_LIST_LIMIT", "accounts_with_pending_digest", "send_overdue_digest"]

DIGEST_LIST_LIMIT = 100


def _pending():
    return Alert.objects.filter(kind=Alert.Kind.OVERDUE, resolved_at__isnull=True, notified_at__isnull=True)


def accounts_with_pending_digest() -> list[int]:
    return list(_pending().values_list("smart_account_id", flat=True).distinct().order_by("smart_account_id"))


def send_overdue_digest(*, smart_account_id: int) -> int:
    """E-mail the account's Admins the open overdue alerts no digest has named yet; mark them named.

    Returns how many instances the digest named (0: nothing new, nothing sent). An alert is named
    once: later digests leave it out, so nobody hears of the same overdue device every day.
    """
    with transaction.atomic():
        account = SmartAccount.objects.filter(pk=smart_account_id).first()
        if account is None:
            return 0
        alerts = list(
            _pending()
            .filter(smart_account=account)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("virtual_account")
            .order_by("due_at", "pk")
        )
        if not alerts:
            return 0
        now = timezone.now()
        Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=now)
        lines = [
            f"- {a.message.removeprefix('Usage report overdue: ')} (Virtual Account {a.virtual_account.name}; "
            f"report was due {a.due_at:%Y-%m-%d})"
            for a in alerts[:DIGEST_LIST_LIMIT]
        ]
        if len(alerts) > DIGEST_LIST_LIMIT:
            lines.append(f"… and {len(alerts) - DIGEST_LIST_LIMIT} more.")
        link = portal_url(reverse("policy_alerts", kwargs={"account_id": account.pk})) + "?kind=overdue"
        count = len(alerts)
        notify(
            subject=f"{account.name}: {count} device{'s' if count != 1 else ''} overdue with usage reports",
            message=(
                f"These product instances in {account.name} became overdue with their usage reports since the last "
                "digest:\n\n" + "\n".join(lines) + f"\n\nSee every open alert and upload usage: {link}\n"
            ),
            recipients=account_admin_emails(account),
        )
        record_event(
            actor=None,
            smart_account=account,
            action="policy.overdue_digest_sent",
            message=f"Overdue reporting digest sent to the Admins: {count} product instance(s).",
            details={"alerts": [a.pk for a in alerts[:DIGEST_LIST_LIMIT]], "count": count},
        )
        return count
