"""Forms of the licenses pages: the filter bar and the license transfer."""

from __future__ import annotations

from django import forms

from ..models import License
from ..selectors.licenses import ALERT_CHOICES, SORTS

__all__ = ["LicenseFilterForm", "LicenseTransferForm"]


class LicenseFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, widget=forms.TextInput(attrs={"placeholder": "Name or tag"}))
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "All types"), *License.Type.choices])
    family = forms.ChoiceField(label="Product family", required=False)
    alert = forms.ChoiceField(label="Alerts", required=False, choices=[("", "All licenses"), *ALERT_CHOICES])
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS], widget=forms.HiddenInput)
    dir = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")], widget=forms.HiddenInput)
    subtree = forms.BooleanField(label="Include sub-accounts", required=False)

    def __init__(self, *args, families: list[str], with_subtree: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["family"].choices = [("", "All families")] + [(f, f) for f in families]
        if not with_subtree:
            del self.fields["subtree"]

    def value(self, name: str, default=""):
        if not self.is_bound or not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default


class LicenseTransferForm(forms.Form):
    """Transfer licenses out of one VA. `targets`: the VAs the user may operate on (from the selectors)."""

    target = forms.ModelChoiceField(label="To Virtual Account", queryset=None, empty_label="Choose…")
    quantity = forms.IntegerField(label="Quantity", min_value=1)

    def __init__(self, *args, targets, available: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets
        self.fields["quantity"].help_text = f"{available} available to transfer."
        self.fields["quantity"].widget.attrs["max"] = max(available, 1)
