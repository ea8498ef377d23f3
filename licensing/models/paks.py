"""PAKs: traditional licenses, converted into smart licenses in a VA, fully or partly, once."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from smartaccounts.models import SmartAccount
from smartaccounts.tenancy import AccountFromParent

from ..limits import MAX_LINE_UNITS
from .catalog import Sku


class Pak(models.Model):
    number = models.CharField("PAK number", max_length=64, unique=True)
    # The tenant column every tenant table carries (docs/scaling.md), named `owner` here.
    owner = models.ForeignKey(
        SmartAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="paks",
        help_text="Empty: the first account that enters the number claims it.",
        db_column="smart_account_id",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "PAK"
        ordering = ["number"]

    def __str__(self):
        return self.number


class PakLine(AccountFromParent):
    account_parent, parent_account = "pak", "owner"

    pak = models.ForeignKey(Pak, on_delete=models.CASCADE, related_name="lines")
    # The PAK's owner, set when an account claims it (empty until then, like the owner).
    smart_account = models.ForeignKey(SmartAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="pak_lines")
    quantity = models.PositiveIntegerField(
        help_text=f"Units of the SKU (at most {MAX_LINE_UNITS:,}).",
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LINE_UNITS)],
    )
    converted_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "PAK line"
        constraints = [
            models.UniqueConstraint(fields=["pak", "sku"], name="pakline_one_per_sku"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="pakline_quantity_positive"),
            models.CheckConstraint(condition=Q(quantity__lte=MAX_LINE_UNITS), name="pakline_quantity_at_most_max"),
            models.CheckConstraint(
                condition=Q(converted_quantity__gte=0) & Q(converted_quantity__lte=F("quantity")),
                name="pakline_converted_within_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.pak.number}: {self.sku.code}"

    @property
    def remaining(self) -> int:
        return self.quantity - self.converted_quantity
