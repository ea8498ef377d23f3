"""Registration tokens as Cisco's API names them (CSSM_API.md §2 "Registration tokens").

- `GET v1/accounts/{d}/virtual-accounts/{va}/tokens`: the VA's usable tokens (not revoked, not expired,
  uses left), newest first: clients take `tokens[0].token` to register a device, so a dead token is never
  listed first (revoked and expired ones are on the portal's Tokens page).
- `POST` same path `{"description","expiresAfterDays","exportControlled"}` (days as an int, a float or a
  string; "Allowed"/"Not Allowed" or a boolean; stray keys such as `limit`/`offset` ignored) →
  `{"status":"SUCCESS","tokenInfo":{"token",...}}`, through `licensing.services.create_registration_token`.
- `POST .../tokens/revoke {"tokens":["<token>"]}` → `tokens[]{token,status,statusMessage}`, through
  `revoke_registration_token`; every token is checked before any is revoked (all or nothing).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from licensing import selectors as licensing_selectors
from licensing import services as licensing_services
from licensing.models import RegistrationToken

from .base import CssmView, as_bool, as_int, iso_z, ok

__all__ = ["TokenRevoke", "Tokens", "token_info"]

MAX_REVOKE = 100


def _export(token: RegistrationToken) -> str:
    return "Allowed" if token.export_controlled_allowed else "Not Allowed"


def token_info(token: RegistrationToken) -> dict:
    return {
        "token": token.token,
        "description": token.description,
        "expirationDate": iso_z(token.expires_at),
        "creationDate": iso_z(token.created_at),
        "createdBy": token.created_by.email,
        "exportControlled": _export(token),
        "virtualAccount": token.virtual_account.name,
        "maxUses": token.max_uses,
        "usesCount": token.uses,
        "status": token.status.upper().replace(" ", "_"),  # ACTIVE | EXPIRED | REVOKED | USED_UP
    }


class Tokens(CssmView):
    def get(self, request, *args, **kwargs):
        live = licensing_selectors.tokens_of(self.virtual_account).filter(
            revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        tokens = [t for t in live.select_related("virtual_account").order_by("-created_at", "-pk") if not t.is_used_up]
        return ok({"tokens": [token_info(t) for t in tokens]}, total=len(tokens))

    def post(self, request, *args, **kwargs):
        body = self.body
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise ValidationError({"description": "The description must be text."}, code="invalid")
        days = body.get("expiresAfterDays")
        days = 30 if days in (None, "") else as_int(days, "expiresAfterDays")
        export = as_bool(body.get("exportControlled"), "exportControlled")
        max_uses = body.get("maxUses") if body.get("maxUses") not in (None, "") else None
        if max_uses is not None:
            max_uses = as_int(max_uses, "maxUses")
        try:
            token = licensing_services.create_registration_token(
                actor=request.user,
                virtual_account=self.virtual_account,
                description=description,
                expires_after_days=days,
                max_uses=max_uses,
                export_controlled=export,
            )
        except ValidationError as error:
            # The service names its fields in snake_case; the client sent camelCase.
            if hasattr(error, "error_dict"):
                renamed = {"expires_after_days": "expiresAfterDays", "max_uses": "maxUses"}
                raise ValidationError(
                    {renamed.get(k, k): v for k, v in error.error_dict.items()}, code=getattr(error, "code", None)
                ) from None
            raise
        token.virtual_account = self.virtual_account
        return ok({"tokenInfo": token_info(token)})


class TokenRevoke(CssmView):
    """POST .../tokens/revoke {"tokens": [...]}."""

    def post(self, request, *args, **kwargs):
        wanted = self.body.get("tokens")
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list) or not wanted or not all(isinstance(t, str) and t.strip() for t in wanted):
            raise ValidationError({"tokens": "List the tokens to revoke."}, code="invalid")
        if len(wanted) > MAX_REVOKE:
            raise ValidationError({"tokens": f"Revoke at most {MAX_REVOKE} tokens in one request."}, code="invalid")
        texts = list(dict.fromkeys(t.strip() for t in wanted))
        found = {t.token: t for t in licensing_selectors.tokens_of(self.virtual_account).filter(token__in=texts)}
        missing = [t for t in texts if t not in found]
        if missing:
            raise ValidationError(
                {"tokens": f"{self.virtual_account.name} has no token {missing[0][:12]}…; nothing was revoked."},
                code="not_found",
            )
        results = []
        with transaction.atomic():
            for text in texts:
                licensing_services.revoke_registration_token(actor=request.user, token=found[text])
                results.append({"token": text, "status": "SUCCESS", "statusMessage": "Revoked."})
        return ok({"tokens": results})
