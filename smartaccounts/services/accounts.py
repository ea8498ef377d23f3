"""Smart Accounts: creation (with the domain rules and the default VA), approval and properties."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from ..domains import is_public_email_domain, is_public_suffix, is_same_or_parent_domain, is_valid_domain_name
from ..locks import lock_account_tree
from ..models import Role, SmartAccount, User, VirtualAccount
from .events import (
    account_admin_emails,
    is_operator,
    notify,
    portal_url,
    record_event,
    require_account_role,
    require_operator,
    require_verified_email,
)
from .roles import _grant

__all__ = [
    "DEFAULT_VA_NAME",
    "validate_account_domain",
    "create_smart_account",
    "approve_smart_account",
    "update_account_properties",
    "set_license_reservation",
    "convert_to_customer",
]

DEFAULT_VA_NAME = "DEFAULT"
# The staff permissions the operator-only services need (as the Django admin's pages and actions do).
ADD_PERMISSION = "smartaccounts.add_smartaccount"
CHANGE_PERMISSION = "smartaccounts.change_smartaccount"


def _normalise_domain(domain: str) -> str:
    return (domain or "").strip().lower().strip(".")


def _company_domains(email_domain: str) -> list[str]:
    """The e-mail domain and its parents that a company can own (never `com` or `co.uk`)."""
    labels = email_domain.split(".")
    return [d for d in (".".join(labels[i:]) for i in range(len(labels))) if not is_public_suffix(d)]


def _public_provider_message(domain: str) -> str:
    return (
        f"{domain} is a public e-mail provider, so it cannot identify a company. Request a Limited Use "
        "account instead: it is made for businesses without their own e-mail domain."
    )


def validate_account_domain(*, creator: User, domain: str, kind: str, on_behalf: bool = False) -> str:
    """Check the domain identifier rules for a new account and return the normalised identifier.

    - Customer: the creator's e-mail domain or a parent of it, never a public e-mail provider
      (the refusal points to Limited Use) and never a registry suffix such as co.uk.
    - Partner Holding: the same, or a name under one of them (holding.partner.com).
    - Limited Use: only for creators on a public e-mail provider; the identifier is their e-mail address.
    Staff who may add accounts create Customer and Partner Holding accounts for any company domain, as
    does a service acting for staff who were already checked (`on_behalf`).
    """
    email_domain = creator.email_domain
    if kind == SmartAccount.Kind.LIMITED_USE:
        if not is_public_email_domain(email_domain):
            raise ValidationError(
                f"Limited Use accounts are for people on public e-mail providers. Your address is at "
                f"{email_domain}: request a Customer account for {email_domain} instead."
            )
        if domain and _normalise_domain(domain) != creator.email:
            raise ValidationError(
                {"domain": f"A Limited Use account's domain identifier is your e-mail address, {creator.email}."}
            )
        return creator.email

    domain = _normalise_domain(domain)
    if not is_valid_domain_name(domain):
        raise ValidationError({"domain": f"“{domain}” is not a domain name such as example.com."})
    if is_public_email_domain(domain):
        raise ValidationError({"domain": _public_provider_message(domain)})
    if is_public_suffix(domain):
        raise ValidationError({"domain": f"{domain} is a registry suffix, not a company's domain."})
    if on_behalf or is_operator(creator, ADD_PERMISSION):
        return domain  # operators create accounts on a customer's behalf
    if is_public_email_domain(email_domain):
        raise ValidationError({"domain": _public_provider_message(email_domain)})
    if kind == SmartAccount.Kind.CUSTOMER and not is_same_or_parent_domain(domain, email_domain):
        raise ValidationError(
            {
                "domain": f"A Customer account's domain must be your e-mail domain ({email_domain}) or a parent of it. "
                f"Ask someone with an address at {domain} to request it."
            }
        )
    # A partner may also own a Customer account for its own domain, so a holding account may use a
    # name under it (holding.partner.com) as well as the domain itself.
    if kind == SmartAccount.Kind.PARTNER_HOLDING and not any(
        domain == d or domain.endswith("." + d) for d in _company_domains(email_domain)
    ):
        raise ValidationError(
            {
                "domain": f"A Partner Holding account's domain must be your e-mail domain ({email_domain}), "
                f"a parent of it, or a name under one of them such as holding.{email_domain}."
            }
        )
    return domain


def _duplicate_domain(identifier: str) -> ValidationError:
    return ValidationError(
        {"domain": f"An account for {identifier} already exists. Request access to it instead of creating another."}
    )


@transaction.atomic
def create_smart_account(*, creator: User, name: str, domain: str, kind: str) -> SmartAccount:
    """Create an account and its default VA in one transaction; the creator becomes its Admin.

    The creator's e-mail address must be confirmed (the domain rules rest on it). Partner
    holding accounts start pending until staff approve them; staff are e-mailed.
    """
    require_verified_email(creator)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the account a name, such as the company's name."})
    if kind not in SmartAccount.Kind.values:
        raise ValidationError({"kind": "Choose Customer, Partner Holding or Limited Use."})
    identifier = validate_account_domain(creator=creator, domain=domain, kind=kind)
    if SmartAccount.objects.filter(domain__iexact=identifier).exists():
        raise _duplicate_domain(identifier)
    account = SmartAccount(
        name=name,
        domain=identifier,
        kind=kind,
        status=SmartAccount.Status.PENDING if kind == SmartAccount.Kind.PARTNER_HOLDING else SmartAccount.Status.ACTIVE,
        created_by=creator,
    )
    account.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:  # another request created the same domain a moment ago
        raise _duplicate_domain(identifier) from None
    lock_account_tree(account.pk)
    default_va = VirtualAccount(smart_account=account, name=DEFAULT_VA_NAME, is_default=True)
    default_va.save()
    _grant(creator, Role.ADMIN, account)
    record_event(
        actor=creator,
        smart_account=account,
        virtual_account=default_va,
        action="account.created",
        message=f"{creator.email} created the {account.get_kind_display()} account {account.name} ({account.domain}).",
        details={"kind": kind, "domain": account.domain, "status": account.status},
    )
    if account.status == SmartAccount.Status.PENDING:
        notify(
            subject=f"Partner Holding account requested: {account.name}",
            message=f"{creator.email} requested the Partner Holding account {account.name} ({account.domain}).\n"
            "Approve it in the admin: "
            + portal_url(reverse("admin:smartaccounts_smartaccount_change", args=[account.pk])),
            recipients=list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True)),
        )
    return account


@transaction.atomic
def approve_smart_account(*, actor: User, smart_account: SmartAccount) -> SmartAccount:
    """Staff with the change permission on Smart Accounts approve a pending (partner holding) account; the
    requester is e-mailed."""
    require_operator(actor, CHANGE_PERMISSION, "approve accounts")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    if account.status != SmartAccount.Status.PENDING:
        raise ValidationError(f"{account.name} is already active.")
    account.status = SmartAccount.Status.ACTIVE
    account.approved_by = actor
    account.approved_at = timezone.now()
    account.save(update_fields=["status", "approved_by", "approved_at"])
    record_event(
        actor=actor,
        smart_account=account,
        action="account.approved",
        message=f"{actor.email} approved the account {account.name}.",
    )
    if account.created_by:
        notify(
            subject=f"Your Smart Account {account.name} is approved",
            message=f"The {account.get_kind_display()} account {account.name} ({account.domain}) is now active.\n"
            + portal_url(reverse("account_home", args=[account.pk])),
            recipients=[account.created_by.email],
        )
    smart_account.status = account.status
    smart_account.approved_by = actor
    smart_account.approved_at = account.approved_at
    return account


@transaction.atomic
def update_account_properties(
    *, actor: User, smart_account: SmartAccount, name: str, headquarters_address: str, visibility: str
) -> SmartAccount:
    """Admins edit the account's name, headquarters address and visibility."""
    require_account_role(actor, smart_account, "admin")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    before = {
        "name": account.name,
        "headquarters_address": account.headquarters_address,
        "visibility": account.visibility,
    }
    account.name = (name or "").strip()
    account.headquarters_address = (headquarters_address or "").strip()
    account.visibility = visibility
    account.full_clean(validate_constraints=False)
    account.save(update_fields=["name", "headquarters_address", "visibility"])
    after = {
        "name": account.name,
        "headquarters_address": account.headquarters_address,
        "visibility": account.visibility,
    }
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changed:
        labels = {"name": "name", "headquarters_address": "headquarters address", "visibility": "visibility"}
        record_event(
            actor=actor,
            smart_account=account,
            action="account.updated",
            message=f"{actor.email} changed the account's {', '.join(labels[k] for k in changed)}.",
            details={"changed": changed},
        )
    return account


@transaction.atomic
def set_license_reservation(*, actor: User, smart_account: SmartAccount, enabled: bool) -> SmartAccount:
    """Staff with the change permission on Smart Accounts switch license reservation on or off; never for
    limited use or partner holding accounts."""
    require_operator(actor, CHANGE_PERMISSION, "change whether an account may reserve licenses")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    if enabled and account.kind != SmartAccount.Kind.CUSTOMER:
        raise ValidationError(
            f"License reservation is only for Customer accounts; "
            f"{account.name} is a {account.get_kind_display()} account."
        )
    if account.license_reservation_enabled == enabled:
        return account
    account.license_reservation_enabled = enabled
    account.save(update_fields=["license_reservation_enabled"])
    record_event(
        actor=actor,
        smart_account=account,
        action="account.reservation_enabled" if enabled else "account.reservation_disabled",
        message=f"{actor.email} {'enabled' if enabled else 'disabled'} license reservation.",
    )
    smart_account.license_reservation_enabled = enabled
    return account


@transaction.atomic
def convert_to_customer(*, actor: User, smart_account: SmartAccount, domain: str) -> SmartAccount:
    """Staff with the change permission on Smart Accounts turn a Limited Use account into a Customer account
    once the company has its own domain.

    The new identifier follows the Customer rules (a company domain, not a public provider,
    not taken by another account). Nothing else changes: VAs, roles and licenses stay.
    """
    require_operator(actor, CHANGE_PERMISSION, "convert accounts")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    if account.kind != SmartAccount.Kind.LIMITED_USE:
        raise ValidationError(f"{account.name} is a {account.get_kind_display()} account, not a Limited Use one.")
    new_domain = validate_account_domain(creator=actor, domain=domain, kind=SmartAccount.Kind.CUSTOMER, on_behalf=True)
    if SmartAccount.objects.filter(domain__iexact=new_domain).exclude(pk=account.pk).exists():
        raise _duplicate_domain(new_domain)
    old_domain = account.domain
    account.kind = SmartAccount.Kind.CUSTOMER
    account.domain = new_domain
    try:
        with transaction.atomic():
            account.save(update_fields=["kind", "domain"])
    except IntegrityError:
        raise _duplicate_domain(new_domain) from None
    record_event(
        actor=actor,
        smart_account=account,
        action="account.converted",
        message=f"{actor.email} converted {account.name} from Limited Use to a Customer account for {new_domain}.",
        details={"from_domain": old_domain, "to_domain": new_domain},
    )
    notify(
        subject=f"{account.name} is now a Customer account",
        message=f"{account.name} is now a Customer account with the domain identifier {new_domain}. "
        "You can now create more Virtual Accounts.\n" + portal_url(reverse("account_home", args=[account.pk])),
        recipients=account_admin_emails(account),
    )
    smart_account.kind = account.kind
    smart_account.domain = account.domain
    return account
