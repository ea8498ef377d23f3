"""Orders: a sales order's lines deposit licenses into the account and VA chosen at ordering."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.tenancy import AccountFromParent

from ..limits import MAX_LINE_NUMBER, MAX_LINE_UNITS
from .catalog import Sku


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Entered"
        ON_HOLD = "on_hold", "Smart Account hold"
        DEPOSITED = "deposited", "Deposited"

    number = models.CharField("sales order number", max_length=64, unique=True)
    ordered_by = models.CharField(max_length=200, blank=True, help_text="The buyer: partner, distributor or customer.")
    end_customer = models.CharField(max_length=200, blank=True)
    smart_account = models.ForeignKey(
        SmartAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    virtual_account = models.ForeignKey(
        VirtualAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="Empty: the account's default Virtual Account.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    hold_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deposited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "on_hold", "deposited"]), name="order_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="deposited") | Q(smart_account__isnull=False, deposited_at__isnull=False),
                name="order_deposited_has_account",
            ),
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        adding = self._state.adding
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if not adding and (fields is None or "smart_account" in fields or "smart_account_id" in fields):
            # The lines carry the order's account (an account is assigned while the order waits for one).
            self.lines.exclude(smart_account_id=self.smart_account_id).update(smart_account_id=self.smart_account_id)


class OrderLine(AccountFromParent):
    account_parent = "order"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    # The order's account, set with it (empty while the order waits for one, like the order's).
    smart_account = models.ForeignKey(SmartAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    line_number = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_LINE_NUMBER)])
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(
        help_text=f"Units of the SKU (at most {MAX_LINE_UNITS:,}); licenses = units × licenses per unit.",
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LINE_UNITS)],
    )
    term_start = models.DateField(null=True, blank=True)
    term_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["order", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_number"], name="orderline_number_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(quantity__lte=MAX_LINE_UNITS), name="orderline_quantity_at_most_max"),
            models.CheckConstraint(
                condition=Q(line_number__gte=1, line_number__lte=MAX_LINE_NUMBER), name="orderline_number_in_range"
            ),
            models.CheckConstraint(
                condition=Q(term_start__isnull=True) | Q(term_end__isnull=True) | Q(term_end__gt=F("term_start")),
                name="orderline_term_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.order.number}/{self.line_number}"

    @property
    def license_quantity(self) -> int:
        return self.quantity * self.sku.licenses_per_unit
