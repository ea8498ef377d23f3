"""License reservations (SLR specific, PLR universal) for devices that never reach the portal."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.tenancy import AccountFromParent

from ..limits import MAX_INSTANCE_USAGE
from .catalog import License
from .instances import ProductInstance


class Reservation(models.Model):
    class Type(models.TextChoices):
        SPECIFIC = "specific", "Specific (SLR)"
        UNIVERSAL = "universal", "Universal (PLR)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"
        REHOSTED = "rehosted", "Rehosted"

    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="reservations")
    virtual_account = models.ForeignKey(VirtualAccount, on_delete=models.PROTECT, related_name="reservations")
    product_instance = models.ForeignKey(ProductInstance, on_delete=models.PROTECT, related_name="reservations")
    reservation_type = models.CharField(max_length=10, choices=Type.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    request_code = models.CharField(max_length=255)
    authorization_code = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    return_code = models.CharField(max_length=255, blank=True)
    released_without_code = models.BooleanField(default=False)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces", help_text="Rehosted to."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_instance"], condition=Q(status="active"), name="reservation_one_active_per_instance"
            ),
            # A request code carries a nonce the device makes for one request: it is used once.
            models.UniqueConstraint(fields=["request_code"], name="reservation_request_code_used_once"),
            models.CheckConstraint(
                condition=Q(reservation_type__in=["specific", "universal"]), name="reservation_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "released", "rehosted"]), name="reservation_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.get_reservation_type_display()} reservation {self.pk}"


class ReservationLine(AccountFromParent):
    account_parent = "reservation"

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    # The reservation's account: every tenant table carries it (docs/scaling.md).
    smart_account = models.ForeignKey(SmartAccount, on_delete=models.PROTECT, related_name="+")
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reservation", "license"], name="reservationline_one_per_license"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="reservationline_quantity_positive"),
            # A reservation holds licenses for one device: at most what a device may use (licensing.limits).
            models.CheckConstraint(
                condition=Q(quantity__lte=MAX_INSTANCE_USAGE), name="reservationline_quantity_within_maximum"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.license_id}"
