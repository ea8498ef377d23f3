"""Forms of the reservation wizard and of the actions on a reservation."""

from __future__ import annotations

from django import forms

from smartaccounts.forms import PLACEHOLDER

from ..limits import MAX_INSTANCE_USAGE
from ..models import Reservation
from ..reservation_codes import REQUEST_FORMAT_HELP, parse_request_code

MAX_UPLOAD_BYTES = 16 * 1024

QTY_STYLE = "max-width: 8rem; text-align: right"  # quantity boxes in table cells


def _read_upload(upload) -> str:
    if upload.size > MAX_UPLOAD_BYTES:
        raise forms.ValidationError("That file is too big for a request code: upload the text file the device wrote.")
    try:
        return upload.read().decode("utf-8")
    except UnicodeDecodeError:
        raise forms.ValidationError("That file is not text: upload the file the device wrote its code to.") from None


class RequestCodeForm(forms.Form):
    """Step 1: the device's request code, pasted or uploaded."""

    request_code = forms.CharField(
        label="Request code",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false", "autocomplete": "off"}),
        help_text=f"Paste what the device printed. {REQUEST_FORMAT_HELP}",
    )
    request_file = forms.FileField(label="…or upload the file the device wrote", required=False)

    def __init__(self, *args, smart_account=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.smart_account = smart_account  # given: refuse a device that cannot take a reservation there

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("request_file")
        text = _read_upload(upload) if upload else cleaned.get("request_code", "")
        try:
            cleaned["request"] = parse_request_code(text)
        except forms.ValidationError as error:
            self.add_error("request_code", error)
            return cleaned
        cleaned["request_code"] = cleaned["request"].text
        if self.smart_account is not None:
            from ..services.reservations import check_device_free

            try:
                check_device_free(cleaned["request"], self.smart_account)
            except forms.ValidationError as error:
                self.add_error("request_code", error)
        return cleaned


class ReservationChoiceForm(forms.Form):
    """Step 2: SPECIFIC (licenses and quantities) or UNIVERSAL (a product family, all its features)."""

    reservation_type = forms.ChoiceField(
        label="Type",
        choices=Reservation.Type.choices,
        initial=Reservation.Type.SPECIFIC,
        widget=forms.RadioSelect,
    )
    product_family = forms.ChoiceField(
        label="Product family (universal)",
        required=False,
        help_text="A universal reservation reserves one of every license of this family available here.",
    )

    def __init__(self, *args, balances, families, **kwargs):
        super().__init__(*args, **kwargs)
        self.balances = list(balances)
        self.fields["product_family"].choices = [("", PLACEHOLDER)] + [(f, f) for f in families]
        for balance in self.balances:
            most = min(balance.available, MAX_INSTANCE_USAGE)  # for one device (licensing.limits)
            self.fields[f"qty_{balance.license_id}"] = forms.IntegerField(
                label=balance.license.name,
                min_value=0,
                max_value=most,
                initial=0,
                required=False,
                widget=forms.NumberInput(attrs={"min": 0, "max": most, "inputmode": "numeric", "style": QTY_STYLE}),
            )

    def rows(self):
        return [(balance, self[f"qty_{balance.license_id}"]) for balance in self.balances]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("reservation_type")
        licenses = {b.license: cleaned.get(f"qty_{b.license_id}") or 0 for b in self.balances}
        cleaned["licenses"] = {lic: q for lic, q in licenses.items() if q}
        if kind == Reservation.Type.SPECIFIC and not cleaned["licenses"] and not self.errors:
            raise forms.ValidationError("Enter how many of at least one license to reserve.")
        if kind == Reservation.Type.UNIVERSAL and not cleaned.get("product_family"):
            self.add_error("product_family", "Choose the device's product family.")
        return cleaned


class UpdateReservationForm(forms.Form):
    """New quantities of a specific reservation: up to what it holds plus what the VA has available."""

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantity_rows = rows  # [(license, reserved now, most it can hold)]
        for license, current, most in rows:
            most = min(most, MAX_INSTANCE_USAGE)  # for one device (licensing.limits)
            self.fields[f"qty_{license.pk}"] = forms.IntegerField(
                label=license.name,
                min_value=0,
                max_value=most,
                initial=current,
                required=False,
                widget=forms.NumberInput(attrs={"min": 0, "max": most, "inputmode": "numeric", "style": QTY_STYLE}),
            )

    def rows(self):
        return [(license, current, most, self[f"qty_{license.pk}"]) for license, current, most in self.quantity_rows]

    def clean(self):
        cleaned = super().clean()
        cleaned["licenses"] = {lic: cleaned.get(f"qty_{lic.pk}") or 0 for lic, _, _ in self.quantity_rows}
        return cleaned


class ReturnCodeForm(forms.Form):
    return_code = forms.CharField(
        label="Return code",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "spellcheck": "false", "autocomplete": "off"}),
        help_text="On the device, release the reservation; it prints a return code such as "
        "RT-ZC9300-48P-4X:FOC1234X0AB-ABCDEFGHIJKLMNOP-7F.",
    )


class RemoveWithoutCodeForm(forms.Form):
    confirmation = forms.CharField(
        label="Type the device's serial number to confirm",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, serial_number: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.serial_number = serial_number

    def clean_confirmation(self):
        value = self.cleaned_data["confirmation"].strip()
        if value.upper() != self.serial_number.upper():
            raise forms.ValidationError(f"Type {self.serial_number} exactly, to confirm this is the device.")
        return value


class RehostForm(RequestCodeForm):
    """The replacement device's request code."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["request_code"].label = "The replacement device's request code"
