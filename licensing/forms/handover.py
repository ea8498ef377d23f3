"""Forms of the partner hand-over pages. Choices come from permission-scoped selectors only."""

from __future__ import annotations

from django import forms

from smartaccounts.forms import VirtualAccountField

QTY_STYLE = "max-width: 8rem; text-align: right"  # quantity boxes in table cells


class HandOverForm(forms.Form):
    """Order lines with a quantity each (0: not handed over) and the customer's domain identifier.

    `lines`: the held order lines (annotated with `held`) the user may hand over.
    """

    customer_domain = forms.CharField(
        label="Customer's domain identifier",
        max_length=254,
        help_text="The domain identifier of the customer's Smart Account, for example globex.com. "
        "Ask your customer for it; the next step shows the account's name for you to confirm.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "customer.com"}),
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[f"qty_{line.pk}"] = forms.IntegerField(
                label=f"{line.order.number} / {line.line_number}",
                min_value=0,
                max_value=line.held,
                initial=0,
                required=False,
                widget=forms.NumberInput(
                    attrs={"min": 0, "max": line.held, "class": "qty", "inputmode": "numeric", "style": QTY_STYLE}
                ),
            )

    def rows(self):
        """(order line, its quantity field) pairs, for the table."""
        return [(line, self[f"qty_{line.pk}"]) for line in self.lines]

    def clean(self):
        cleaned = super().clean()
        chosen = {line: cleaned.get(f"qty_{line.pk}") or 0 for line in self.lines}
        chosen = {line: q for line, q in chosen.items() if q}
        if not chosen and not self.errors:
            raise forms.ValidationError("Enter a quantity for at least one order line.")
        cleaned["order_lines"] = chosen
        return cleaned


class AcceptHandOverForm(forms.Form):
    virtual_account = VirtualAccountField(
        label="Into Virtual Account",
        empty_label=None,
        help_text="Only the Virtual Accounts you may operate on are listed.",
    )

    def __init__(self, *args, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["virtual_account"]
        field.queryset = virtual_accounts  # in tree order, like every VA picker
        # Preselected: the default VA, where licenses land unless someone chooses another.
        field.initial = virtual_accounts.filter(is_default=True).values_list("pk", flat=True).first()


class DeclineHandOverForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The partner reads it; say what they should do instead.",
    )
