"""Forms of the PAK pages."""

from __future__ import annotations

from django import forms

from smartaccounts.forms import VirtualAccountField

QTY_STYLE = "max-width: 8rem; text-align: right"  # quantity boxes in table cells


class PakNumberForm(forms.Form):
    number = forms.CharField(
        label="PAK number",
        max_length=80,
        help_text="As printed on the PAK certificate. A PAK that belongs to no account yet becomes this account's.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "3PAK-0001-2026"}),
    )


class ConvertPakForm(forms.Form):
    """A Virtual Account and how many units of each line to convert (0: not now)."""

    virtual_account = VirtualAccountField(
        label="Into Virtual Account",
        empty_label=None,
        help_text="Only the Virtual Accounts you may operate on are listed.",
    )

    def __init__(self, *args, lines, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["virtual_account"]
        field.queryset = virtual_accounts  # in tree order, like every VA picker
        # Preselected: the default VA, where licenses land unless someone chooses another.
        field.initial = virtual_accounts.filter(is_default=True).values_list("pk", flat=True).first()
        self.lines = [line for line in lines if line.remaining > 0]
        for line in self.lines:
            self.fields[f"units_{line.pk}"] = forms.IntegerField(
                label=line.sku.code,
                min_value=0,
                max_value=line.remaining,
                initial=line.remaining,
                required=False,
                widget=forms.NumberInput(
                    attrs={"min": 0, "max": line.remaining, "inputmode": "numeric", "style": QTY_STYLE}
                ),
            )

    def rows(self):
        return [(line, self[f"units_{line.pk}"]) for line in self.lines]

    def clean(self):
        cleaned = super().clean()
        units = {line.sku.code: cleaned.get(f"units_{line.pk}") or 0 for line in self.lines}
        if not any(units.values()) and not self.errors:
            raise forms.ValidationError("Enter how many units to convert for at least one line.")
        cleaned["lines"] = {code: n for code, n in units.items() if n}
        return cleaned
