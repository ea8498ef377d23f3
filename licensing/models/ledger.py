"""The license ledger: lots (holdings), append-only entries, and the materialised balances.

Rules every writer follows (licensing/ledger.py implements them):
- a lot's quantity changes only together with a LedgerEntry for that lot, in one transaction;
- a (VA, license) balance row changes only in the same transaction as the entries or usage
  changes behind it, and only after it has been locked with `lock_balances`, which locks
  rows in primary-key order so concurrent writers never deadlock;
- the database refuses negative quantities whatever the code does.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from smartaccounts.models import AppendOnlyModel, SmartAccount, VirtualAccount

from ..limits import MAX_ACCOUNT_USAGE
from .catalog import License


class LicenseLot(models.Model):
    """A quantity of one license, from one source, with one term, held in one VA.

    A lot in transit to a customer (a pending hand-over) has no VA: it belongs to the hand-over.
    """

    smart_account = models.ForeignKey(SmartAccount, null=True, on_delete=models.PROTECT, related_name="+")
    virtual_account = models.ForeignKey(
        VirtualAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="license_lots"
    )
    in_transit = models.ForeignKey(
        "licensing.HandOver", null=True, blank=True, on_delete=models.PROTECT, related_name="transit_lots"
    )
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="lots")
    # 64-bit, like every column that adds licenses up: an order line of 2,000,000 units of a 1,000-license
    # SKU is 2,000,000,000 licenses, and sums of lots, entries and balances only grow from there.
    quantity = models.BigIntegerField(default=0)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    # Sources: where the licenses came from (the original order line survives transfers and hand-overs).
    order_line = models.ForeignKey(
        "licensing.OrderLine", null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )
    pak_line = models.ForeignKey(
        "licensing.PakLine", null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )
    # Term licenses handed over to a customer start their term on acceptance: until then the lot
    # carries its term length instead of dates.
    term_months = models.PositiveIntegerField(null=True, blank=True)
    expired_quantity = models.BigIntegerField(default=0)
    expired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="lot_quantity_not_negative"),
            models.CheckConstraint(condition=Q(expired_quantity__gte=0), name="lot_expired_not_negative"),
            models.CheckConstraint(
                condition=Q(virtual_account__isnull=False, in_transit__isnull=True)
                | Q(virtual_account__isnull=True, in_transit__isnull=False),
                name="lot_in_a_va_or_in_transit",
            ),
        ]
        indexes = [
            models.Index(fields=["virtual_account", "license"], name="lot_va_license"),
            models.Index(fields=["license", "end_date"], name="lot_license_end"),
            models.Index(fields=["end_date"], condition=Q(quantity__gt=0), name="lot_live_end"),
            # Alerts of the account licenses page (expiring and expired lots of one account).
            models.Index(
                fields=["smart_account", "end_date"], condition=Q(quantity__gt=0), name="lot_account_live_end"
            ),
            models.Index(
                fields=["smart_account", "expired_at"],
                condition=Q(expired_at__isnull=False),
                name="lot_account_expired",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.license_id} in VA {self.virtual_account_id}"


class LedgerEntry(AppendOnlyModel):
    """One movement of licenses. Append-only (a PostgreSQL trigger refuses UPDATE and DELETE too)."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"
        CONVERSION = "conversion", "PAK conversion"
        HAND_OVER_OUT = "hand_over_out", "Hand-over to customer"
        HAND_OVER_IN = "hand_over_in", "Hand-over accepted"
        HAND_OVER_RETURN = "hand_over_return", "Hand-over returned"
        RESERVATION = "reservation", "Reservation"
        RELEASE = "release", "Reservation released"
        EXPIRY = "expiry", "Expiry"

    # Kinds that change a lot's quantity; RESERVATION and RELEASE change the reserved count.
    LOT_KINDS = frozenset(
        {
            "deposit",
            "transfer_out",
            "transfer_in",
            "conversion",
            "hand_over_out",
            "hand_over_in",
            "hand_over_return",
            "expiry",
        }
    )
    RESERVED_KINDS = frozenset({"reservation", "release"})

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    movement = models.UUIDField(help_text="Entries of one movement (a transfer's out and in) share this id.")
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+")
    virtual_account = models.ForeignKey(
        VirtualAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(LicenseLot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    quantity = models.BigIntegerField(help_text="Signed change: positive in, negative out.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order_line = models.ForeignKey(
        "licensing.OrderLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pak_line = models.ForeignKey("licensing.PakLine", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    hand_over = models.ForeignKey(
        "licensing.HandOver", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    reservation = models.ForeignKey(
        "licensing.Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="ledgerentry_quantity_not_zero"),
            models.CheckConstraint(
                condition=Q(kind__in=["reservation", "release"]) | Q(lot__isnull=False),
                name="ledgerentry_lot_kinds_have_lot",
            ),
        ]
        indexes = [
            models.Index(fields=["virtual_account", "license", "-created_at"], name="entry_va_license_time"),
            models.Index(fields=["smart_account", "-created_at"], name="entry_account_time"),
            models.Index(fields=["lot"], name="entry_lot"),
            models.Index(fields=["smart_account", "license", "-created_at"], name="entry_account_license_time"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.quantity:+d} {self.license_id}"


class LicenseBalance(models.Model):
    """Materialised per-VA totals of one license. Balance = purchased − in_use − reserved.

    `purchased` is the sum of the VA's live lots, `in_use` the sum of its active product
    instances' usage, `reserved` what its reservations hold. `verify_ledger` recomputes all three.
    """

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="license_balances")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="license_balances")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="balances")
    purchased = models.BigIntegerField(default=0)
    in_use = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["virtual_account", "license"], name="balance_one_per_va_and_license"),
            models.CheckConstraint(condition=Q(purchased__gte=0), name="balance_purchased_not_negative"),
            models.CheckConstraint(condition=Q(in_use__gte=0), name="balance_in_use_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="balance_reserved_not_negative"),
        ]
        indexes = [
            # The shortages of an account (compliance, the home panel): a small partial index.
            models.Index(
                fields=["smart_account", "license"],
                condition=Q(purchased__lt=models.F("in_use") + models.F("reserved")),
                name="balance_short",
            ),
            # The account roll-up sums every VA's row of a license: with the counts in the key the
            # index covers the query, so PostgreSQL can aggregate from the index alone (and SQLite
            # uses it too, which it could not with INCLUDE columns).
            models.Index(
                fields=["smart_account", "license", "virtual_account", "purchased", "in_use", "reserved"],
                name="balance_account_rollup_cover",
            ),
        ]

    def __str__(self):
        return f"VA {self.virtual_account_id} / license {self.license_id}: {self.balance}"

    @property
    def total_in_use(self) -> int:
        return self.in_use + self.reserved

    @property
    def balance(self) -> int:
        return self.purchased - self.in_use - self.reserved

    @property
    def available(self) -> int:
        """What can leave this VA: licenses neither used nor reserved."""
        return max(0, self.balance)


class LicenseAccountTotal(models.Model):
    """Materialised per-account totals of one license: its balances summed over every VA, and how
    many VAs are below zero. The ledger keeps it in the same transaction as the balances (the row
    is locked by `lock_balances` after the balance rows), so an account-wide licenses page reads
    one row per license instead of summing thousands of VAs. `verify_ledger` recomputes it.
    """

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="license_totals")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="account_totals")
    purchased = models.BigIntegerField(default=0)
    in_use = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    short_vas = models.IntegerField(default=0, help_text="Virtual Accounts whose balance of it is below zero.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["smart_account", "license"], name="total_one_per_account_and_license"),
            models.CheckConstraint(condition=Q(purchased__gte=0), name="total_purchased_not_negative"),
            models.CheckConstraint(condition=Q(in_use__gte=0), name="total_in_use_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="total_reserved_not_negative"),
            models.CheckConstraint(condition=Q(short_vas__gte=0), name="total_short_vas_not_negative"),
            # licensing.limits: the ledger refuses what would pass it; this is the backstop.
            models.CheckConstraint(
                condition=Q(in_use__lte=MAX_ACCOUNT_USAGE - models.F("reserved")), name="total_usage_within_maximum"
            ),
        ]

    def __str__(self):
        return f"account {self.smart_account_id} / license {self.license_id}: {self.balance}"

    @property
    def balance(self) -> int:
        return self.purchased - self.in_use - self.reserved
