from django import forms

from smartaccounts.forms import VirtualAccountField

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class UsageUploadForm(forms.Form):
    virtual_account = VirtualAccountField(
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
        self.fields["virtual_account"].queryset = virtual_accounts

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB; split it into several uploads.")
        return upload
