"""Forms of the accounts pages. They only collect input: the services check every rule.

Choice fields that name Virtual Accounts are filled by the view from the selectors, so a form
never offers a VA the user cannot reach.
"""

from __future__ import annotations

import html

from django import forms
from django.contrib.auth import password_validation
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .models import Role, SmartAccount, VirtualAccount
from .params import parse_id

KIND_HELP = {
    SmartAccount.Kind.CUSTOMER: "For a company with its own e-mail domain. Licenses you buy are deposited here and "
    "used by your devices. The domain identifier is your company's domain (or a parent of it), and your "
    "e-mail address must be in it.",
    SmartAccount.Kind.LIMITED_USE: "For a small business that uses a public e-mail provider such as gmail.com. "
    "Simpler: one Virtual Account, no license reservations. Its identifier is your e-mail address. Staff can "
    "turn it into a Customer account once you have your own domain.",
    SmartAccount.Kind.PARTNER_HOLDING: "For partners and distributors: park orders here until the customer's "
    "account is known, then transfer them. Licenses cannot be used here (no devices, no reservations). "
    "Staff approve it first; we e-mail you when it is active.",
}

TOP_LEVEL = ""


def va_choices(virtual_accounts, *, top_level_label: str | None = None) -> list[tuple[str, str]]:
    """Choices for a VA field, indented by depth; `top_level_label` adds an empty choice first."""
    choices = [(TOP_LEVEL, top_level_label)] if top_level_label else []
    vas = sorted(virtual_accounts, key=lambda va: (va.tree_id, va.lft))
    base_level = {}
    for va in vas:
        base_level.setdefault(va.tree_id, va.level)
    shallowest = min(base_level.values(), default=0)
    for va in vas:
        choices.append((str(va.pk), "\u2003" * max(0, va.level - shallowest) + va.name))
    return choices


def _escape(value) -> str:
    """`conditional_escape` without its per-call overhead: safe strings as they are, the rest escaped."""
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


class FlatSelect(forms.Select):
    """A <select> rendered in Python: Django renders each option through a template, which costs
    seconds for the thousands of VAs of a big account."""

    # The choices are flat (value, label) pairs already: Django would normalise them again on every
    # assignment (twice per field), which costs more than building them.
    @property
    def choices(self):
        return self._choices

    @choices.setter
    def choices(self, value):
        self._choices = list(value)

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        selected = "" if value is None else str(value)
        # Plain string building: format_html per option is most of the cost of 2,000 options.
        options = "".join(
            f'<option value="{_escape(v)}"{" selected" if str(v) == selected else ""}>{_escape(label)}</option>'
            for v, label in self.choices
        )
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(attrs), mark_safe(options))


class VAChoiceField(forms.ChoiceField):
    """A VA picked from choices the view supplies; `clean` returns the VirtualAccount (or None for "")."""

    widget = FlatSelect

    def __init__(self, *args, **kwargs):
        self.virtual_accounts: dict[int, VirtualAccount] = {}
        super().__init__(*args, **kwargs)

    @property
    def choices(self):
        return self._choices

    @choices.setter
    def choices(self, value):
        # Flat (value, label) pairs from `va_choices`: no normalising (see FlatSelect).
        self._choices = self.widget.choices = list(value)

    def set_virtual_accounts(self, virtual_accounts, *, top_level_label: str | None = None) -> None:
        vas = list(virtual_accounts)
        self.virtual_accounts = {va.pk: va for va in vas}
        self.choices = va_choices(vas, top_level_label=top_level_label)

    def clean(self, value):
        value = super().clean(value)
        if value in (None, TOP_LEVEL):
            return None
        return self.virtual_accounts[parse_id(value)]


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
        "Limited Use: leave it empty; your e-mail address is used.",
    )


class RequestAccessForm(forms.Form):
    message = forms.CharField(
        label="Message to the Admins",
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Who you are, what you need (optional)"}),
    )


class AccountPropertiesForm(forms.Form):
    name = forms.CharField(label="Account name", max_length=200)
    headquarters_address = forms.CharField(
        label="Headquarters address", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    visibility = forms.ChoiceField(
        choices=SmartAccount.Visibility.choices,
        widget=forms.RadioSelect,
        help_text="Whether people of your e-mail domain find this account when they request one, and can ask to join.",
    )


# --- Sign-up --------------------------------------------------------------------------------------


class SignUpForm(forms.Form):
    email = forms.EmailField(label="Work e-mail address", max_length=254)
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)


class SetPasswordForm(forms.Form):
    """Choose a password (twice); Django's password validators run on it."""

    new_password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    new_password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        one, two = cleaned.get("new_password1"), cleaned.get("new_password2")
        if one and two and one != two:
            self.add_error("new_password2", "The two passwords differ.")
        elif one:
            try:
                password_validation.validate_password(one, self.user)
            except forms.ValidationError as error:
                self.add_error("new_password1", error)
        return cleaned


class InvitationSignUpForm(SetPasswordForm):
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)

    field_order = ["first_name", "last_name", "new_password1", "new_password2"]


# --- Virtual Accounts -----------------------------------------------------------------------------


class VirtualAccountCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    parent = VAChoiceField(label="Inside", required=False)
    description = forms.CharField(max_length=500, required=False)


class VirtualAccountRenameForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False)


class VirtualAccountMoveForm(forms.Form):
    parent = VAChoiceField(label="Move under", required=False)


# --- People ---------------------------------------------------------------------------------------


ROLE_HELP = (
    "Viewer: sees licenses, devices, events and reports. User: also operates (tokens, devices, transfers, "
    "reservations, usage uploads, PAK conversion). Admin: also Virtual Accounts, people and account properties."
)


class AddUserForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER, help_text=ROLE_HELP)
    scope = VAChoiceField(
        label="On",
        required=False,
        help_text="The entire account, or one Virtual Account (its descendants included).",
    )


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    scope = VAChoiceField(required=False)


class ApproveAccessForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    scope = VAChoiceField(label="On", required=False)


class DeclineAccessForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=500)


class ApiClientForm(forms.Form):
    """The *API clients* page's create form: a name, a role and the scope it holds it on."""

    name = forms.CharField(max_length=100, help_text="What the script is, e.g. “Inventory dashboard”.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    scope = VAChoiceField(
        label="On", required=False, help_text="The whole account, or one Virtual Account and its subtree."
    )
