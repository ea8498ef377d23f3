"""API clients: scripts' OAuth2 clients, each with a role on an account or on one VA and its subtree.

Who: an Admin of the account creates and revokes them (a VA Admin does not: a client may act on the
whole account). Staff create and revoke them from the Django admin when they hold the model permission
(`add_apiclient`, `change_apiclient`), under the same rules and logged under their name. `actor=None`
is the operator at the command line (`manage.py create_api_client`), logged as such.

A client is django-oauth-toolkit's Application (client id, secret stored hashed) plus a service
identity: a User holding the client's role, with no usable password, which acts for `client_credentials`
tokens. The secret is random, shown once, letters and digits only (it survives any form body a script
builds). Revoking refuses the client's tokens at once and keeps its row for the event log.
"""

from __future__ import annotations

import re
import string

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from oauth2_provider.models import AccessToken, Application, RefreshToken

from ..models import ApiClient, Role, SmartAccount, User, VirtualAccount
from .events import is_operator, record_event, require_account_role
from .roles import _grant, scope_label

__all__ = [
    "CLIENT_ID_PATTERN",
    "SECRET_PATTERN",
    "create_api_client",
    "new_client_secret",
    "revoke_api_client",
]

CREATE_PERMISSION = "smartaccounts.add_apiclient"
REVOKE_PERMISSION = "smartaccounts.change_apiclient"
SERVICE_EMAIL_DOMAIN = "api-clients.invalid"  # .invalid: never a real mailbox, never an account's domain
_ALPHANUMERIC = string.ascii_letters + string.digits
SECRET_LENGTH = 48
CLIENT_ID_LENGTH = 32
# A client id a script fixes: letters, digits, '.', '_', '-' (8 to 100). A secret: letters and digits (24 to 128).
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,99}")
SECRET_PATTERN = re.compile(r"[A-Za-z0-9]{24,128}")


def new_client_secret() -> str:
    return get_random_string(SECRET_LENGTH, _ALPHANUMERIC)


def _new_client_id() -> str:
    return get_random_string(CLIENT_ID_LENGTH, string.ascii_lowercase + string.digits)


def _require_client_admin(actor: User | None, smart_account: SmartAccount, permission: str) -> None:
    if actor is None:  # the command line: whoever runs manage.py operates the portal
        return
    if not is_operator(actor, permission):
        require_account_role(actor, smart_account, "admin")


def _who(actor: User | None) -> str:
    return actor.email if actor is not None else "An operator (command line)"


def _role(role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({"role": "Choose Admin, User or Viewer."}) from None


@transaction.atomic
def create_api_client(
    *,
    actor: User | None,
    smart_account: SmartAccount,
    name: str,
    role: str,
    virtual_account: VirtualAccount | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> tuple[ApiClient, str]:
    """A new API client with `role` on the account (or on `virtual_account` and its subtree).

    Returns the client and its secret, which is stored hashed and never shown again. `client_id` and
    `client_secret` let a provisioning script fix them (otherwise both are random).
    """
    _require_client_admin(actor, smart_account, CREATE_PERMISSION)
    role = _role(role)
    name = " ".join(str(name or "").split())
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the client a name."
    elif len(name) > 100:
        errors["name"] = "Keep the name to 100 characters."
    if smart_account.status != SmartAccount.Status.ACTIVE:
        raise ValidationError(f"{smart_account.name} is not active yet: API clients are created once it is approved.")
    if virtual_account is not None and (
        virtual_account.smart_account_id != smart_account.pk or virtual_account.is_deleted
    ):
        errors["virtual_account"] = f"Choose a Virtual Account of {smart_account.name}."
    if client_id is not None:
        client_id = client_id.strip()
        if not CLIENT_ID_PATTERN.fullmatch(client_id):
            errors["client_id"] = "A client id has 8 to 100 letters, digits, '.', '_' or '-'."
        elif Application.objects.filter(client_id=client_id).exists():
            errors["client_id"] = "That client id is taken."
    if client_secret is not None and not SECRET_PATTERN.fullmatch(client_secret):
        errors["client_secret"] = "A client secret has 24 to 128 letters and digits."
    if errors:
        raise ValidationError(errors)
    # Serialises creations in one account, so two clients cannot take the same name.
    SmartAccount.objects.select_for_update(no_key=True).filter(pk=smart_account.pk).first()
    if ApiClient.objects.filter(smart_account=smart_account, name__iexact=name, revoked_at__isnull=True).exists():
        raise ValidationError({"name": f"{smart_account.name} already has an API client called {name}."})

    secret = client_secret or new_client_secret()
    application = Application(
        name=f"{smart_account.domain or smart_account.name}: {name}"[:255],
        client_id=client_id or _new_client_id(),
        client_secret=secret,  # hashed when saved (hash_client_secret)
        hash_client_secret=True,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        skip_authorization=True,
    )
    application.save()
    service_user = User.objects.create_user(
        email=f"api-client-{application.pk}@{SERVICE_EMAIL_DOMAIN}",
        password=None,  # unusable: a service identity never signs in
        first_name="API client",
        last_name=name[:150],
    )
    _grant(service_user, role, virtual_account or smart_account)
    api_client = ApiClient.objects.create(
        name=name,
        smart_account=smart_account,
        virtual_account=virtual_account,
        role=role,
        application=application,
        service_user=service_user,
        created_by=actor,
    )
    record_event(
        actor=actor,
        smart_account=smart_account,
        virtual_account=virtual_account,
        action="api_client.created",
        message=f"{_who(actor)} created the API client {name} ({role.label} on {scope_label(virtual_account)}).",
        details={"name": name, "client_id": application.client_id, "role": role.value},
    )
    return api_client, secret


@transaction.atomic
def revoke_api_client(*, actor: User | None, api_client: ApiClient) -> ApiClient:
    """Revoke the client: no new token, and the tokens it holds are refused from now on."""
    _require_client_admin(actor, api_client.smart_account, REVOKE_PERMISSION)
    locked = ApiClient.objects.select_for_update().select_related("application", "service_user").get(pk=api_client.pk)
    if locked.is_revoked:
        raise ValidationError(f"The API client {locked.name} is already revoked.")
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    RefreshToken.objects.filter(application=locked.application).delete()
    AccessToken.objects.filter(application=locked.application).delete()
    User.objects.filter(pk=locked.service_user_id).update(is_active=False)
    record_event(
        actor=actor,
        smart_account=api_client.smart_account,
        virtual_account=locked.virtual_account,
        action="api_client.revoked",
        message=f"{_who(actor)} revoked the API client {locked.name}.",
        details={"name": locked.name, "client_id": locked.application.client_id},
    )
    api_client.revoked_at = locked.revoked_at
    return api_client
