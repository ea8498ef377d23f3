"""Trust codes: the shared secret a product instance signs its usage reports and change notices with."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from licensing.ledger import lock_instances
from licensing.models import ProductInstance
from smartaccounts.models import User
from smartaccounts.services import record_event, require_va_role

__all__ = ["reissue_trust_code"]


def reissue_trust_code(*, actor: User, product_instance: ProductInstance) -> str:
    """Give the instance a new trust code and return it (shown once; the portal never shows it again).

    Needs the User role on the instance's VA. From now on only reports and notices signed with the
    new code are accepted from the device; the old code stops working at once. Refused for removed
    and reserved instances and in Partner Holding accounts.
    """
    with transaction.atomic():
        instance = lock_instances([product_instance.pk]).get(product_instance.pk)
        if instance is None or instance.status == ProductInstance.Status.REMOVED:
            raise ValidationError("This product instance has been removed; it has no trust code.", code="removed")
        require_va_role(actor, instance.virtual_account, "operate")
        if instance.smart_account.is_partner_holding:
            raise ValidationError("Product instances cannot report usage in a Partner Holding account.")
        if instance.status == ProductInstance.Status.RESERVED:
            raise ValidationError(
                "This instance holds a license reservation and does not report usage, so it needs no trust code.",
                code="reserved",
            )
        code = secrets.token_hex(32)
        now = timezone.now()
        had_one = bool(instance.trust_code)
        ProductInstance.objects.filter(pk=instance.pk).update(trust_code=code, trust_code_issued_at=now)
        record_event(
            actor=actor,
            smart_account=instance.smart_account,
            virtual_account=instance.virtual_account,
            action="instance.trust_code_issued",
            message=f"New trust code issued for {instance.hostname or instance.udi}"
            + ("; the previous one no longer signs its reports." if had_one else "."),
            details={"udi": instance.udi, "replaced": had_one},
        )
        return code
