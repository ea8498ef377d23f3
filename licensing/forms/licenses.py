"""Forms of the licenses pages: the license transfer (the filter bar is `licensing.filters.LicenseFilter`)."""

from __future__ import annotations

from django import forms

from smartaccounts.forms import VirtualAccountField

__all__ = ["LicenseTransferForm"]


class LicenseTransferForm(forms.Form):
    """Transfer licenses out of one VA. `targets`: the VAs the user may operate on (from the selectors)."""

    target = VirtualAccountField(label="To Virtual Account")
    quantity = forms.IntegerField(label="Quantity", min_value=1)

    def __init__(self, *args, targets, available: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets
        self.fields["quantity"].help_text = f"{available} available to transfer."
        self.fields["quantity"].widget.attrs["max"] = max(available, 1)
