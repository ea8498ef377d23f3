"""Product instances (devices, by UDI), their license usage, and the tokens they register with."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.tenancy import AccountFromParent

from ..identifiers import STORED_UDI_PART_PATTERN
from ..limits import MAX_INSTANCE_USAGE
from .catalog import License

# `\A…\Z` mean the start and the end of the text to Python and to PostgreSQL alike (`$` would let a final
# newline through in Python, and in the REGEXP function Django gives SQLite).
STORED_UDI_PART = rf"\A{STORED_UDI_PART_PATTERN}\Z"
_udi_part_validator = RegexValidator(
    STORED_UDI_PART, "Upper-case letters, digits and - . _ / + :, starting with a letter or digit."
)


class RegistrationToken(AccountFromParent):
    account_parent = "virtual_account"

    # The account of `virtual_account`, on the row: every tenant table carries it (docs/scaling.md).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="registration_tokens")
    token = models.CharField(max_length=128, unique=True)
    description = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    uses = models.PositiveIntegerField(default=0)
    export_controlled_allowed = models.BooleanField(
        "allow export-controlled functionality",
        default=False,
        help_text="Devices registered with it may use export-controlled licenses.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(max_uses__gte=1), name="token_max_uses_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=F("max_uses")), name="token_uses_within_max"
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="token_expires_after_creation"),
        ]

    def __str__(self):
        return self.description or f"Token {self.pk}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_used_up(self) -> bool:
        return self.max_uses is not None and self.uses >= self.max_uses

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "Revoked"
        if self.is_expired:
            return "Expired"
        if self.is_used_up:
            return "Used up"
        return "Active"


class ProductInstance(models.Model):
    """A device (or a software instance) identified by its UDI: product id and serial number."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESERVED = "reserved", "Reserved (offline)"
        REMOVED = "removed", "Removed"

    class ReportingStatus(models.TextChoices):
        OK = "ok", "OK"
        DUE_SOON = "due_soon", "Due soon"
        OVERDUE = "overdue", "Overdue"
        NOT_REQUIRED = "not_required", "Not required"

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="product_instances")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="product_instances")
    pid = models.CharField("product ID", max_length=64, validators=[_udi_part_validator])
    serial_number = models.CharField(max_length=64, validators=[_udi_part_validator])
    hostname = models.CharField(max_length=255, blank=True)
    product_family = models.CharField(max_length=100, blank=True)
    software_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    registered_at = models.DateTimeField(default=timezone.now)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    registration_token = models.ForeignKey(
        RegistrationToken, null=True, blank=True, on_delete=models.PROTECT, related_name="product_instances"
    )
    export_controlled_allowed = models.BooleanField(default=False)
    # The shared secret a device signs its usage reports with (HMAC-SHA256). Shown once when issued.
    trust_code = models.CharField(max_length=128, blank=True)
    trust_code_issued_at = models.DateTimeField(null=True, blank=True)

    # Smart Licensing using Policy state, kept by policy.services and policy.deadlines.
    first_use_at = models.DateTimeField(null=True, blank=True)
    last_report_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last accepted report was generated."
    )
    last_report_received_at = models.DateTimeField(null=True, blank=True)
    pending_change_at = models.DateTimeField(
        null=True, blank=True, help_text="Earliest change (upgrade, feature change) not yet covered by a report."
    )
    # The reporting deadline and status the evaluation works out live in `InstanceDeadline` (one narrow
    # row per instance): read them here through `deadline`.

    class Meta:
        ordering = ["hostname", "pid", "serial_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["pid", "serial_number"],
                condition=~Q(status="removed"),
                name="instance_udi_unique_when_not_removed",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "reserved", "removed"]), name="instance_status_valid"
            ),
            # One UDI, one spelling (licensing.identifiers): no lower case, no spaces, no final newline.
            models.CheckConstraint(
                condition=Q(pid__regex=STORED_UDI_PART) & Q(serial_number__regex=STORED_UDI_PART),
                name="instance_udi_stored_form",
            ),
        ]
        indexes = [
            models.Index(fields=["virtual_account", "status", "id"], name="instance_va_status"),
            models.Index(fields=["smart_account", "status", "id"], name="instance_account_status"),
            models.Index(fields=["serial_number"], name="instance_serial"),
            models.Index(fields=["smart_account", "hostname"], name="instance_account_hostname"),
            # Keyset pagination of the product instance pages: (hostname, id) after a cursor.
            models.Index(fields=["virtual_account", "hostname", "id"], name="instance_va_name_key"),
            models.Index(fields=["smart_account", "hostname", "id"], name="instance_account_name_key"),
        ]

    def __str__(self):
        return self.hostname or self.udi

    @property
    def udi(self) -> str:
        return f"PID:{self.pid} SN:{self.serial_number}"

    # The evaluation's outputs, read through the instance's `InstanceDeadline` (select_related("deadline")
    # where many are shown). Written only by `policy.deadlines` and the services that report usage.
    @property
    def next_due_at(self):
        return self.deadline.next_due_at

    @property
    def reporting_status(self) -> str:
        return self.deadline.reporting_status

    @property
    def reporting_status_changed_at(self):
        return self.deadline.reporting_status_changed_at

    def get_reporting_status_display(self) -> str:
        return self.deadline.get_reporting_status_display()


class InstanceDeadline(models.Model):
    """An instance's reporting deadline and status: the deadline evaluation's output, one narrow row per instance.

    Kept apart from the wide instance row (a dozen indexes, a long tuple) so that writing a deadline
    rewrites a short row with two index entries, mostly in place (HOT, fillfactor below). The row is
    created by a database trigger when its instance is inserted (ORM, bulk_create, COPY alike) and
    follows the instance's account, VA and removal by trigger too; the instance counts per VA and
    status (`InstanceCount`) are kept from this table. See licensing/migrations/0014_instance_deadlines.py.
    """

    instance = models.OneToOneField(
        ProductInstance, primary_key=True, on_delete=models.CASCADE, related_name="deadline"
    )
    # Copies of the instance's own columns, kept by trigger: the counts and the tenant scope.
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    virtual_account = models.ForeignKey(
        VirtualAccount, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    removed = models.BooleanField(default=False)
    next_due_at = models.DateTimeField(null=True, blank=True)
    reporting_status = models.CharField(
        max_length=12,
        choices=ProductInstance.ReportingStatus.choices,
        default=ProductInstance.ReportingStatus.NOT_REQUIRED,
    )
    reporting_status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reporting_status__in=["ok", "due_soon", "overdue", "not_required"]),
                name="deadline_reporting_status_valid",
            ),
        ]
        indexes = [
            # The reporting page's filter: an account's instances in one status.
            models.Index(fields=["smart_account", "reporting_status"], name="deadline_account_reporting"),
        ]

    def __str__(self):
        return f"{self.instance_id}: {self.reporting_status} {self.next_due_at}"


class ProductInstanceUsage(AccountFromParent):
    """How many of a license an instance uses now (the last report or registration says)."""

    account_parent = "product_instance"

    product_instance = models.ForeignKey(ProductInstance, on_delete=models.CASCADE, related_name="usage")
    # The instance's account (an instance never changes account): every tenant table carries it. No index
    # of its own: rows are found by instance, and one more index would be one more write per usage row.
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="usage")
    count = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product_instance", "license"], name="usage_one_per_instance_and_license"),
            models.CheckConstraint(condition=Q(count__gte=0), name="usage_count_not_negative"),
            models.CheckConstraint(condition=Q(count__lte=MAX_INSTANCE_USAGE), name="usage_count_within_maximum"),
        ]
        indexes = [models.Index(fields=["license", "product_instance"], name="usage_license_instance")]

    def __str__(self):
        return f"{self.count} × {self.license_id}"
