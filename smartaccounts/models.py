"""The tenant structure: users, Smart Accounts, nested Virtual Accounts, roles and the event log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from mptt.managers import TreeManager
from mptt.models import MPTTModel, TreeForeignKey

from .locks import NEW_TREE_LOCK, advisory_xact_lock


class Role(models.TextChoices):
    """A role grants these actions: Viewer `view`; User `view`, `operate`; Admin all three."""

    ADMIN = "admin", "Admin"
    USER = "user", "User"
    VIEWER = "viewer", "Viewer"

    @classmethod
    def for_action(cls, action: str) -> list[Role]:
        """The roles that allow `action` (`view`, `operate` or `admin`)."""
        try:
            return {
                "view": [cls.ADMIN, cls.USER, cls.VIEWER],
                "operate": [cls.ADMIN, cls.USER],
                "admin": [cls.ADMIN],
            }[action]
        except KeyError:
            raise ValueError(f"Unknown action {action!r}: use view, operate or admin.") from None

    @property
    def codename(self) -> str:
        """The django-guardian permission codename that stores this role on an object."""
        return f"role_{self.value}"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "user": 2, "admin": 3}[self.value]

    def allows(self, action: str) -> bool:
        return self in Role.for_action(action)


ROLE_PERMISSIONS = [(role.codename, f"{role.label} role") for role in Role]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person. People sign in with their e-mail address, which decides the accounts they may create."""

    username = None
    email = models.EmailField("e-mail address", unique=True)
    # The e-mail domain decides which accounts a person may create and join, so it must be proven.
    # A self sign-up starts unconfirmed (None) until its owner opens the link we mailed; people made
    # by operators (admin, createsuperuser) or through an invitation link are confirmed from the start.
    email_verified_at = models.DateTimeField(
        "e-mail confirmed at",
        null=True,
        blank=True,
        default=timezone.now,
        help_text="Empty: a self sign-up whose owner has not opened the confirmation link yet.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.get_full_name() or self.email

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def email_domain(self) -> str:
        return self.email.rsplit("@", 1)[-1].lower() if "@" in self.email else ""


class SmartAccount(models.Model):
    """A company's (or partner's) repository of licenses, devices and agreements."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        PARTNER_HOLDING = "partner_holding", "Partner Holding"
        LIMITED_USE = "limited_use", "Limited Use"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        ACTIVE = "active", "Active"

    class Visibility(models.TextChoices):
        DOMAIN = "domain", "People with an e-mail address in the domain can find it and request access"
        PRIVATE = "private", "Only people invited by an Admin"

    name = models.CharField(max_length=200)
    domain = models.CharField(
        "domain identifier",
        max_length=254,
        help_text="The company's e-mail domain (customer, partner) or the creator's e-mail address (limited use).",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.DOMAIN)
    headquarters_address = models.TextField(blank=True)
    license_reservation_enabled = models.BooleanField(
        default=False, help_text="Set by staff. Never for limited use or partner holding accounts."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        permissions = ROLE_PERMISSIONS
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="smartaccount_domain_ci_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["customer", "partner_holding", "limited_use"]), name="smartaccount_kind_valid"
            ),
            models.CheckConstraint(condition=Q(status__in=["pending", "active"]), name="smartaccount_status_valid"),
            models.CheckConstraint(
                condition=Q(license_reservation_enabled=False) | Q(kind="customer"),
                name="smartaccount_reservation_only_customer",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.license_reservation_enabled and self.kind != self.Kind.CUSTOMER:
            raise ValidationError({"license_reservation_enabled": "License reservation is only for customer accounts."})

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_partner_holding(self) -> bool:
        return self.kind == self.Kind.PARTNER_HOLDING

    @property
    def is_limited_use(self) -> bool:
        return self.kind == self.Kind.LIMITED_USE


class VirtualAccountManager(TreeManager):
    def _get_next_tree_id(self):
        # Every top-level VA is the root of its own MPTT tree, and django-mptt picks the next
        # tree id as max + 1 over the whole table. Two accounts creating a top-level VA at the
        # same moment would pick the same id; this lock (held to the end of the transaction)
        # makes the pick and the insert one step.
        advisory_xact_lock(NEW_TREE_LOCK)
        return super()._get_next_tree_id()


class VirtualAccount(MPTTModel):
    """A folder inside a Smart Account. Tree writes go through `smartaccounts.services` only."""

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="virtual_accounts")
    parent = TreeForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Deleting a VA keeps its row (ledger entries, removed devices and events still point at it)
    # but takes it out of the tree, out of every selector and frees its name.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = VirtualAccountManager()

    class MPTTMeta:
        # No order_insertion_by: ordered inserts renumber other accounts' trees. Pages sort siblings by name.
        pass

    class Meta:
        verbose_name = "Virtual Account"
        permissions = ROLE_PERMISSIONS
        constraints = [
            models.UniqueConstraint(
                "smart_account",
                Lower("name"),
                condition=Q(deleted_at__isnull=True),
                name="virtualaccount_name_unique_in_account",
            ),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(is_default=False), name="virtualaccount_default_not_deleted"
            ),
            models.UniqueConstraint(
                fields=["smart_account"], condition=Q(is_default=True), name="virtualaccount_one_default_per_account"
            ),
        ]
        indexes = [models.Index(fields=["smart_account", "tree_id", "lft"], name="va_account_tree")]

    def __str__(self):
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class SmartAccountUserObjectPermission(UserObjectPermissionBase):
    """A user's role on a whole Smart Account (one row per user and account)."""

    content_object = models.ForeignKey(SmartAccount, on_delete=models.CASCADE, related_name="user_roles")

    class Meta(UserObjectPermissionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["user", "content_object"], name="one_role_per_user_and_account")]


class SmartAccountGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(SmartAccount, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class VirtualAccountUserObjectPermission(UserObjectPermissionBase):
    """A user's role on a Virtual Account; it reaches the VA's descendants too."""

    content_object = models.ForeignKey(VirtualAccount, on_delete=models.CASCADE, related_name="user_roles")

    class Meta(UserObjectPermissionBase.Meta):
        constraints = [models.UniqueConstraint(fields=["user", "content_object"], name="one_role_per_user_and_va")]


class VirtualAccountGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(VirtualAccount, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class Invitation(models.Model):
    """An Admin invited an e-mail address that has no user yet; the signed link lands them with the role."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        CANCELLED = "cancelled", "Cancelled"

    email = models.EmailField()
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="invitations")
    virtual_account = models.ForeignKey(
        VirtualAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The link is signed with `send_count`, so resending makes the earlier links stop working;
    # it expires INVITATION_MAX_AGE_DAYS after `sent_at`.
    sent_at = models.DateTimeField(default=timezone.now)
    send_count = models.PositiveSmallIntegerField(default=1)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "smart_account",
                condition=Q(status="pending"),
                name="invitation_one_pending_per_email_and_account",
            ),
            models.CheckConstraint(condition=Q(role__in=["admin", "user", "viewer"]), name="invitation_role_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted", "cancelled"]), name="invitation_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | Q(accepted_by__isnull=False, accepted_at__isnull=False),
                name="invitation_accepted_has_user",
            ),
        ]

    def __str__(self):
        return f"{self.email} → {self.smart_account}"

    @property
    def expires_at(self):
        return self.sent_at + timedelta(days=settings.INVITATION_MAX_AGE_DAYS)

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class AccessRequest(models.Model):
    """A user asks the Admins of an account (found by its domain) for access."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests")
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="access_requests")
    message = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    granted_role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    # The scope of the granted role: empty for the whole account.
    granted_virtual_account = models.ForeignKey(
        VirtualAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["requester", "smart_account"],
                condition=Q(status="pending"),
                name="accessrequest_one_pending_per_user_and_account",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "declined"]), name="accessrequest_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | Q(status="approved", decided_at__isnull=False, granted_role__in=["admin", "user", "viewer"])
                | Q(status="declined", decided_at__isnull=False, granted_role=""),
                name="accessrequest_decision_consistent",
            ),
        ]

    def __str__(self):
        return f"{self.requester} → {self.smart_account}"


class AppendOnlyQuerySet(models.QuerySet):
    """No update or delete path: the rows are a record of what happened."""

    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are append-only; they cannot be updated.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only; they cannot be deleted.")

    _raw_delete = delete


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are append-only; they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are append-only; they cannot be deleted.")


class Event(AppendOnlyModel):
    """One change of state, written by the service that made it. Never edited, never deleted.

    On PostgreSQL a trigger refuses UPDATE and DELETE as well (migration 0002).
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    smart_account = models.ForeignKey(
        SmartAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    # A VA can be deleted once it is empty, but its history stays: no database constraint here,
    # and the name is kept as it was.
    virtual_account = models.ForeignKey(
        VirtualAccount,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="events",
    )
    virtual_account_name = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    message = models.CharField(max_length=1000)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["smart_account", "-created_at"], name="event_account_time"),
            models.Index(fields=["virtual_account", "-created_at"], name="event_va_time"),
            models.Index(fields=["smart_account", "action", "-created_at"], name="event_account_action_time"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}: {self.message}"


class ApiClient(models.Model):
    """A script's OAuth2 client: a role (Admin, User or Viewer) on an account or on one VA and its subtree.

    Its OAuth2 side is django-oauth-toolkit's Application (`client_id`; the secret is stored hashed).
    Everything it does with the `client_credentials` grant is done by its *service identity*, a User
    that holds exactly the client's role (given by `assign_role`), has no usable password, and is left
    out of member lists, people search, invitations and the Admin count. With the `password` grant the
    token acts as the person who signed in, never beyond the client's role (`smartaccounts.access`).
    Revoked clients keep their row (the event log names them) and get no token.
    """

    name = models.CharField(max_length=100)
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="api_clients")
    virtual_account = models.ForeignKey(
        VirtualAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_clients",
        help_text="Empty: the role is on the whole account.",
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="api_client"
    )
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API client"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                "smart_account",
                Lower("name"),
                condition=Q(revoked_at__isnull=True),
                name="apiclient_name_unique_in_account",
            ),
            models.CheckConstraint(condition=Q(role__in=["admin", "user", "viewer"]), name="apiclient_role_valid"),
            models.CheckConstraint(condition=~Q(name=""), name="apiclient_name_not_empty"),
        ]

    def __str__(self):
        return self.name

    @property
    def client_id(self) -> str:
        return self.application.client_id

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def scope_label(self) -> str:
        return self.virtual_account.name if self.virtual_account_id else "Entire Smart Account"
