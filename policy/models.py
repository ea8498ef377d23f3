"""Smart Licensing using Policy: policies, usage (RUM) reports, ACKs, changes, alerts, heartbeats."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from licensing.limits import MAX_INSTANCE_USAGE
from licensing.models import License, LicenseClass, ProductInstance
from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.tenancy import AccountFromParent


class Policy(models.Model):
    """A named reporting policy; its rules live in versions, and editing makes a new version."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text="Applies to every account without a policy of its own.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="policy_one_default")
        ]

    def __str__(self):
        return self.name


class PolicyVersion(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policyversion_number_unique")]

    def __str__(self):
        return f"{self.policy.name} v{self.number}"


class PolicyRule(models.Model):
    """What one policy version asks of one license class. 0 days = not required."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="rules")
    license_class = models.CharField(max_length=32, choices=LicenseClass.choices)
    first_report_days = models.PositiveIntegerField(default=0)
    reporting_frequency_days = models.PositiveIntegerField(default=0)
    report_on_change_days = models.PositiveIntegerField(default=0)
    ack_required = models.BooleanField(default=False)

    class Meta:
        ordering = ["version", "license_class"]
        constraints = [
            models.UniqueConstraint(fields=["version", "license_class"], name="policyrule_one_per_class"),
        ]

    def __str__(self):
        return f"{self.version}: {self.get_license_class_display()}"


class AccountPolicy(models.Model):
    """The policy an account is held to (the default policy otherwise)."""

    smart_account = models.OneToOneField(SmartAccount, on_delete=models.CASCADE, related_name="policy_assignment")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "account policies"

    def __str__(self):
        return f"{self.smart_account} → {self.policy}"


class Acknowledgement(AccountFromParent):
    """The signed answer to one accepted usage report."""

    account_parent = "product_instance"

    ack_id = models.UUIDField(unique=True)
    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="acknowledgements")
    # The instance's account: every tenant table carries it (docs/scaling.md). Found by instance or report,
    # so no index of its own (one more write per report).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+")
    next_due_at = models.DateTimeField(null=True, blank=True)
    document = models.JSONField(help_text="The ACK as sent, signature included.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"ACK {self.ack_id}"


class UsageReport(models.Model):
    """One usage (RUM) report as received. On PostgreSQL the table is partitioned by month of `received_at`
    (`policy.partitions`): its primary key there is (id, received_at), `id` stays unique through its
    sequence, and `report_id` is unique within each month's partition (the service finds a replay in any
    month before it inserts). Tables that point at a report (`UsageMeasurement.report`, `Change.report`)
    hold its id without a database foreign key, which a partitioned table cannot take without its key."""

    class Source(models.TextChoices):
        DEVICE = "device", "Device"
        UPLOAD = "upload", "Offline upload"
        COMMAND = "command", "Command"

    report_id = models.UUIDField(unique=True)
    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="usage_reports")
    # The instance's account, copied: a tenant column (every query of a distributed database names it).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    generated_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    signed = models.BooleanField(default=False)
    software_version = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    acknowledgement = models.OneToOneField(
        Acknowledgement, null=True, blank=True, on_delete=models.PROTECT, related_name="report"
    )

    class Meta:
        ordering = ["-generated_at"]
        indexes = [
            models.Index(fields=["product_instance", "-generated_at"], name="report_instance_time"),
            # An account's reports newest first (the usage-report API list): one index per month partition.
            models.Index(fields=["smart_account", "-generated_at", "-id"], name="report_account_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(source__in=["device", "upload", "command"]), name="report_source_valid")
        ]

    def __str__(self):
        return f"Report {self.report_id}"


class UsageMeasurement(models.Model):
    """One license's count over a period, from one report. `received_at` is its report's (the partition key on
    PostgreSQL): a report and its measurements sit in the same month and are pruned together."""

    report = models.ForeignKey(UsageReport, on_delete=models.CASCADE, related_name="measurements", db_constraint=False)
    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="+")
    # A tenant column, not a search key: no index (one fewer to write per measurement).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    received_at = models.DateTimeField(help_text="Its report's `received_at` (the month it is kept under).")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["product_instance", "license", "end"], name="measurement_instance_time")]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="measurement_period_ordered"),
            models.CheckConstraint(condition=Q(count__lte=MAX_INSTANCE_USAGE), name="measurement_count_within_maximum"),
        ]

    def __str__(self):
        return f"{self.count} × {self.license_id}"


class Change(AccountFromParent):
    """A software upgrade or a feature change, reported or announced by a change notice."""

    account_parent = "product_instance"

    class Kind(models.TextChoices):
        SOFTWARE_UPGRADE = "software_upgrade", "Software upgrade"
        FEATURE_CHANGE = "feature_change", "Feature change"

    class Source(models.TextChoices):
        REPORT = "report", "Reported by the device"
        NOTICE = "notice", "Change notice"
        USAGE = "usage", "Derived from reported usage"

    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="changes")
    # The instance's account: every tenant table carries it (docs/scaling.md). Found by instance, so no
    # index of its own (one more write per change).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    from_value = models.CharField(max_length=64, blank=True)
    to_value = models.CharField(max_length=64, blank=True)
    license = models.ForeignKey(License, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    noticed_at = models.DateTimeField(null=True, blank=True, help_text="Recorded by a change notice before a report.")
    # The report that reported the change; no database foreign key (usage reports are partitioned on
    # PostgreSQL). Once `prune_usage` dropped that report's month the id stays, naming a report no longer kept.
    report = models.ForeignKey(
        UsageReport, null=True, blank=True, on_delete=models.PROTECT, related_name="changes", db_constraint=False
    )
    reported_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="Reported later than the policy allows.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.REPORT)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["software_upgrade", "feature_change"]), name="change_kind_valid"
            ),
            models.CheckConstraint(condition=Q(source__in=["report", "notice", "usage"]), name="change_source_valid"),
        ]
        indexes = [
            models.Index(fields=["product_instance", "occurred_at"], name="change_instance_time"),
            models.Index(fields=["product_instance"], condition=Q(report__isnull=True), name="change_pending"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", "Report due soon"
        OVERDUE = "overdue", "Report overdue"
        LATE_CHANGE = "late_change", "Change reported late"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="alerts")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="alerts")
    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.CharField(max_length=500)
    due_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="Included in an Admin digest e-mail.")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_instance", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["due_soon", "overdue", "late_change"]), name="alert_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=["info", "warning", "critical"]), name="alert_severity_valid"
            ),
        ]
        indexes = [
            # The alerts page, newest first, paged by key (opened_at, id) whatever the state filter.
            models.Index(fields=["smart_account", "-opened_at", "-id"], name="alert_account_recent"),
            # The daily digest: open overdue alerts no digest has named yet.
            models.Index(
                fields=["smart_account"],
                condition=Q(kind="overdue", resolved_at__isnull=True, notified_at__isnull=True),
                name="alert_digest_pending",
            ),
        ]

    def __str__(self):
        return self.message


class UsageUpload(models.Model):
    """One offline usage file uploaded into a Virtual Account, and what became of each report in it."""

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="usage_uploads")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="usage_uploads")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=255, blank=True)
    accepted_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    # One entry per report in file order: {"index", "report_id", "udi", "status", "message", "report"}.
    results = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["virtual_account", "-created_at"], name="upload_va_time")]

    def __str__(self):
        return f"Upload {self.pk} ({self.file_name})"


class WorkerHeartbeat(models.Model):
    """Written by the `policy.health_ping` task: proof that a worker took a task and reached the database."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    hostname = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Heartbeat {self.created_at:%Y-%m-%d %H:%M:%S} from {self.hostname}"


class DeadlineEvaluationRun(models.Model):
    """The progress of one scheduled deadline evaluation, written in the transaction of each batch.

    A worker that dies half-way leaves the batches it committed and this row saying where it stopped;
    when the task's message is delivered again (same task id, `key`) the run resumes there, with the
    same `now`, and ends as an uninterrupted run would have.
    """

    key = models.CharField(max_length=255, unique=True, help_text="The Celery task id of the run.")
    now = models.DateTimeField(help_text="The time the run evaluates as of (kept when it resumes).")
    next_id = models.BigIntegerField(null=True, blank=True, help_text="First instance id not evaluated yet.")
    batches = models.PositiveIntegerField(default=0, help_text="Batches committed.")
    attempts = models.PositiveIntegerField(default=1, help_text="Times the run was started or resumed.")
    totals = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        state = f"finished {self.finished_at:%Y-%m-%d %H:%M:%S}" if self.finished_at else f"at id {self.next_id}"
        return f"Deadline evaluation {self.key} ({state})"


class DevicePoll(models.Model):
    """What a Cisco SLUP request (authorizations, acknowledgements) produced, kept for the client's poll.

    The portal processes a request as it arrives, so the result is written with it; the client
    collects it with `poll_id`, an 18-digit number, from the same Smart Account and VA.
    """

    class Action(models.TextChoices):
        AUTHORIZATIONS = "authorizations", "Authorizations"
        ACKNOWLEDGEMENTS = "acknowledgements", "Acknowledgements"

    poll_id = models.BigIntegerField(unique=True)
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.CASCADE, related_name="+")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    result = models.JSONField(help_text="The items of the answer's `data`, as the poll returns them.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["virtual_account", "polled_at"], name="devicepoll_va_polled")]

    def __str__(self):
        return f"Poll {self.poll_id} ({self.action})"
