"""Materialised counts of product instances per Virtual Account and reporting status.

The VA tree, the account home and the reporting page show how many devices each VA holds and how
many are overdue. Counting them from the instances reads every device of the account (200,000 in
a large one) on every page view. These rows hold the same numbers, kept by database triggers in the
same transaction as every write to `licensing_instancedeadline` (each instance's status row, which
itself follows its instance's account, VA and removal by trigger: ORM saves, `update()`, raw SQL,
COPY), so no code path can forget them and a rolled-back write rolls its counts back.

Only live instances (status other than `removed`) are counted. A key (account, VA, reporting status)
may have several rows whose `count`s add up to the number: on PostgreSQL a statement-level trigger
folds the rows of the keys it changes into one new row, taking only the rows no other transaction
holds (`FOR UPDATE SKIP LOCKED`), so writers never wait for each other here and cannot deadlock on
it; a row a concurrent writer holds is folded by the next one. Single rows may therefore be negative;
the sum per key never is. Read them summed (`instance_counts` in `licensing.selectors.instances`).
`verify_instance_counts()` recomputes them from the instances.
"""

from django.db import models

from smartaccounts.models import SmartAccount, VirtualAccount

from .instances import ProductInstance


class InstanceCount(models.Model):
    # Derived rows, written by the triggers from instance rows that carry the foreign keys themselves: no
    # constraint or single-column index of their own (each would cost every counted write a check or an
    # index entry); the key index serves the reads and the triggers.
    smart_account = models.ForeignKey(
        SmartAccount, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    virtual_account = models.ForeignKey(
        VirtualAccount, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    reporting_status = models.CharField(max_length=12, choices=ProductInstance.ReportingStatus.choices)
    count = models.IntegerField(help_text="Part of the live instances of this key: add up the rows of a key.")

    class Meta:
        indexes = [
            models.Index(fields=["smart_account", "virtual_account", "reporting_status"], name="instancecount_key"),
        ]

    def __str__(self):
        return f"VA {self.virtual_account_id} / {self.reporting_status}: {self.count}"


def verify_instance_counts() -> list[tuple[int, int, str, int, int]]:
    """Keys whose counted number differs from the instances: (account, VA, status, counted, actual)."""
    from django.db.models import Count, Sum

    counted = {
        (row["smart_account_id"], row["virtual_account_id"], row["reporting_status"]): row["n"]
        for row in InstanceCount.objects.order_by()
        .values("smart_account_id", "virtual_account_id", "reporting_status")
        .annotate(n=Sum("count"))
    }
    actual = {
        (row["smart_account_id"], row["virtual_account_id"], row["deadline__reporting_status"]): row["n"]
        for row in ProductInstance.objects.exclude(status=ProductInstance.Status.REMOVED)
        .order_by()
        .values("smart_account_id", "virtual_account_id", "deadline__reporting_status")
        .annotate(n=Count("pk"))
    }
    return sorted(
        (*key, counted.get(key, 0), actual.get(key, 0))
        for key in counted.keys() | actual.keys()
        if counted.get(key, 0) != actual.get(key, 0)
    )
