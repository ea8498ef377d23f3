"""The catalog: licenses (entitlements) and the SKUs that are ordered to get them."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, Q, Value, When

from ..identifiers import TAG_PATTERN
from ..limits import MAX_LICENSES_PER_UNIT


class LicenseClass(models.TextChoices):
    """The classes a Smart Licensing using Policy policy sets reporting rules for."""

    UNENFORCED_PERPETUAL = "unenforced_perpetual", "Unenforced perpetual"
    UNENFORCED_SUBSCRIPTION = "unenforced_subscription", "Unenforced subscription"
    ENFORCED = "enforced", "Enforced"
    EXPORT_CONTROLLED = "export_controlled", "Export-controlled"


class License(models.Model):
    class Type(models.TextChoices):
        PERPETUAL = "perpetual", "Perpetual"
        TERM = "term", "Term"
        SUBSCRIPTION = "subscription", "Subscription"
        DEMO = "demo", "Demo"

    class Enforcement(models.TextChoices):
        UNENFORCED = "unenforced", "Unenforced"
        ENFORCED = "enforced", "Enforced"
        EXPORT_CONTROLLED = "export_controlled", "Export-controlled"

    class Billing(models.TextChoices):
        PREPAID = "prepaid", "Prepaid"
        USAGE = "usage", "Usage"

    name = models.CharField(max_length=200)
    tag = models.CharField(
        "entitlement tag",
        max_length=255,
        unique=True,
        help_text="e.g. regid.2018-05.com.cisco.C9300_48P_DNA_E,1.0_...",
        validators=[RegexValidator(rf"\A{TAG_PATTERN}\Z", "Printable ASCII characters, no spaces.")],
    )
    description = models.TextField(blank=True)
    product_family = models.CharField(max_length=100, db_index=True)
    license_type = models.CharField("type", max_length=16, choices=Type.choices, default=Type.PERPETUAL)
    enforcement = models.CharField(max_length=20, choices=Enforcement.choices, default=Enforcement.UNENFORCED)
    billing = models.CharField(max_length=10, choices=Billing.choices, default=Billing.PREPAID)
    # Which policy rule applies to this license, kept by the database so set-based SQL can join on it.
    policy_class = models.GeneratedField(
        expression=Case(
            When(enforcement="export_controlled", then=Value("export_controlled")),
            When(enforcement="enforced", then=Value("enforced")),
            When(license_type="perpetual", then=Value("unenforced_perpetual")),
            default=Value("unenforced_subscription"),
        ),
        output_field=models.CharField(max_length=32, choices=LicenseClass.choices),
        db_persist=True,
    )

    class Meta:
        ordering = ["product_family", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(license_type__in=["perpetual", "term", "subscription", "demo"]), name="license_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(enforcement__in=["unenforced", "enforced", "export_controlled"]),
                name="license_enforcement_valid",
            ),
            models.CheckConstraint(condition=Q(billing__in=["prepaid", "usage"]), name="license_billing_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_time_bound(self) -> bool:
        return self.license_type != self.Type.PERPETUAL

    @property
    def is_export_controlled(self) -> bool:
        return self.enforcement == self.Enforcement.EXPORT_CONTROLLED


class Sku(models.Model):
    code = models.CharField("SKU", max_length=64, unique=True)
    description = models.CharField(max_length=255, blank=True)
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="skus")
    licenses_per_unit = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_LICENSES_PER_UNIT)]
    )
    default_term_months = models.PositiveIntegerField(
        null=True, blank=True, help_text="Term length for term, subscription and demo licenses."
    )

    class Meta:
        verbose_name = "SKU"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(licenses_per_unit__gte=1), name="sku_licenses_per_unit_positive"),
            models.CheckConstraint(
                condition=Q(licenses_per_unit__lte=MAX_LICENSES_PER_UNIT), name="sku_licenses_per_unit_at_most_max"
            ),
            models.CheckConstraint(
                condition=Q(default_term_months__isnull=True) | Q(default_term_months__gte=1),
                name="sku_term_positive",
            ),
        ]

    def __str__(self):
        return self.code
