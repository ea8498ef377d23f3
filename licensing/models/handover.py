"""Hand-overs: a partner holding account passes order lines to a customer account."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.tenancy import AccountFromParent

from .catalog import License


class HandOver(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Declined automatically after 30 days"

    # The partner's account owns the row (its order lines are what moves), so its column is the
    # tenant column every tenant table carries (docs/scaling.md); the customer's id is kept beside it.
    partner_account = models.ForeignKey(
        SmartAccount, on_delete=models.PROTECT, related_name="hand_overs_out", db_column="smart_account_id"
    )
    customer_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="hand_overs_in")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    virtual_account = models.ForeignKey(
        VirtualAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Accepted into."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "declined", "cancelled", "expired"]),
                name="handover_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(partner_account=models.F("customer_account")), name="handover_between_two_accounts"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="handover_status_time"),
        ]

    def __str__(self):
        return f"Hand-over {self.pk}"


class HandOverLine(AccountFromParent):
    account_parent, parent_account = "hand_over", "partner_account"

    hand_over = models.ForeignKey(HandOver, on_delete=models.CASCADE, related_name="lines")
    # The hand-over's partner account (`HandOver.partner_account`), which owns the order line too.
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+")
    order_line = models.ForeignKey("licensing.OrderLine", on_delete=models.PROTECT, related_name="hand_over_lines")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hand_over", "order_line"], name="handoverline_one_per_order_line"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="handoverline_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.license_id} (order line {self.order_line_id})"
