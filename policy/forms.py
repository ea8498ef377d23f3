from django import forms

from licensing.models import ProductInstance
from smartaccounts.forms import FlatSelect
from smartaccounts.models import VirtualAccount

from .models import Alert

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class VirtualAccountChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return ("— " * obj.level) + obj.name


class UsageUploadForm(forms.Form):
    virtual_account = VirtualAccountChoiceField(
        queryset=VirtualAccount.objects.none(),
        label="Virtual Account",
        help_text="Product instances the portal has not seen before are created here.",
    )
    file = forms.FileField(
        label="Usage file",
        help_text="The JSON file the devices wrote: one usage report, a list of them, "
        '{"reports": [...]}, or JSON Lines (one report per line). Up to 20 MB.',
    )

    def __init__(self, *args, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the VAs the user may operate on: a form must never offer a VA out of reach.
        self.fields["virtual_account"].queryset = virtual_accounts.order_by("tree_id", "lft")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; split it into several uploads.")
        return upload


class ReportingFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *ProductInstance.ReportingStatus.choices], label="Status"
    )
    va = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Virtual Account", widget=FlatSelect
    )
    q = forms.CharField(required=False, label="Search", max_length=100)

    def __init__(self, *args, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["va"].choices = [("", "Every Virtual Account")] + [
            (va.pk, ("— " * va.level) + va.name) for va in virtual_accounts
        ]
        self.fields["q"].widget.attrs.update(placeholder="Hostname, PID or serial number", type="search")

    def value(self, name):
        return self.cleaned_data.get(name) if self.is_valid() else None


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=[("open", "Open"), ("resolved", "Resolved"), ("all", "All")], label="State"
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Alert.Kind.choices], label="Kind")
    severity = forms.ChoiceField(
        required=False, choices=[("", "Any severity"), *Alert.Severity.choices], label="Severity"
    )
    # Thousands of VAs: the options are written in Python (FlatSelect), not one template per option.
    va = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Virtual Account", widget=FlatSelect
    )

    def __init__(self, *args, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["va"].choices = [("", "Every Virtual Account")] + [
            (va.pk, ("— " * va.level) + va.name) for va in virtual_accounts
        ]

    def value(self, name, default=None):
        if not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default
