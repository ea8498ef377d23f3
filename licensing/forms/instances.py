"""Forms of the product instance and registration token pages."""

from __future__ import annotations

from django import forms

from smartaccounts.forms import VirtualAccountField
from smartaccounts.params import parse_id

from ..services.instances import TOKEN_MAX_DAYS, TOKEN_MAX_USES, TOKEN_MIN_DAYS

__all__ = ["InstanceTransferForm", "TokenForm"]


class InstanceTransferForm(forms.Form):
    """Move product instances to another VA. `targets`: VAs the user may operate on (from the selectors)."""

    target = VirtualAccountField(
        label="Move to Virtual Account", error_messages={"required": "Choose the Virtual Account to move them to."}
    )
    instances = forms.TypedMultipleChoiceField(coerce=parse_id, choices=(), required=True)

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets
        raw = self.data.getlist("instances") if hasattr(self.data, "getlist") else self.data.get("instances", [])
        self.fields["instances"].choices = [(v, v) for v in raw if parse_id(v) is not None]
        self.fields["instances"].error_messages["required"] = "Select the product instances to transfer."


class TokenForm(forms.Form):
    description = forms.CharField(max_length=255, required=False)
    expires_after_days = forms.IntegerField(
        label="Expire after (days)",
        min_value=TOKEN_MIN_DAYS,
        max_value=TOKEN_MAX_DAYS,
        initial=30,
        help_text=f"Between {TOKEN_MIN_DAYS} and {TOKEN_MAX_DAYS} days.",
    )
    max_uses = forms.IntegerField(
        label="Maximum number of uses",
        min_value=1,
        max_value=TOKEN_MAX_USES,
        required=False,
        help_text=f"From 1 to {TOKEN_MAX_USES:,}. Leave empty for no limit.",
    )
    export_controlled = forms.BooleanField(
        label="Allow export-controlled functionality on the products registered with this token", required=False
    )
