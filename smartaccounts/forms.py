from django import forms

from .models import SmartAccount

KIND_HELP = {
    SmartAccount.Kind.CUSTOMER: "For a company with its own e-mail domain. Licenses you buy are deposited here and "
    "used by your devices. The domain identifier is your company's domain (or a parent of it).",
    SmartAccount.Kind.LIMITED_USE: "For a small business that uses a public e-mail provider such as gmail.com. "
    "Simpler: one Virtual Account, no license reservations. Its identifier is your e-mail address.",
    SmartAccount.Kind.PARTNER_HOLDING: "For partners and distributors: park orders here until the customer's "
    "account is known, then transfer them. Licenses cannot be used here. Staff approve it first.",
}


class AccountRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind of account", choices=SmartAccount.Kind.choices, widget=forms.RadioSelect, initial="customer"
    )
    name = forms.CharField(label="Account name", max_length=200, help_text="Usually the company's name.")
    domain = forms.CharField(
        label="Domain identifier",
        max_length=254,
        required=False,
        help_text="Customer and Partner Holding: your company's domain, such as example.com. "
        "Limited Use: leave empty; your e-mail address is used.",
    )
