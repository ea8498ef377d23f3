"""License reservation pages: the account's reservations, the wizard in a VA, and the actions on one
reservation (download its authorization code, update, release, remove without a code, rehost)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView, View

from policy import signing
from smartaccounts import selectors as sa_selectors
from smartaccounts.lists import ListPageMixin
from smartaccounts.mixins import AccountScopedMixin
from smartaccounts.models import SmartAccount
from smartaccounts.pagination import offset_page
from smartaccounts.params import parse_id
from smartaccounts.views import apply_validation_error

from .. import reservation_codes, services
from ..forms.reservations import (
    RehostForm,
    RemoveWithoutCodeForm,
    RequestCodeForm,
    ReservationChoiceForm,
    ReturnCodeForm,
    UpdateReservationForm,
)
from ..models import License, Reservation
from ..selectors import reservations as selectors
from ..tables import ReservationTable

CUSTOMER = (SmartAccount.Kind.CUSTOMER,)


class ReservationListView(ListPageMixin, AccountScopedMixin, TemplateView):
    """Every reservation in the VAs the user may see, and where to start a new one."""

    template_name = "licensing/reservations/list.html"
    results_template_name = "licensing/reservations/_results.html"
    allowed_kinds = CUSTOMER

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        status = self.request.GET.get("status", Reservation.Status.ACTIVE)
        if status not in Reservation.Status.values:
            status = ""
        reservations = selectors.reservations_in(
            self.page_virtual_accounts(), status or None, smart_account=self.smart_account
        )
        page = offset_page(reservations, self.request.GET, 25)
        context.update(
            page=page,
            table=ReservationTable(page.object_list),
            status=status,
            statuses=Reservation.Status.choices,
            # A VA's page starts the wizard in that VA; the account's page asks in which.
            operable_vas=list(
                self.visible_virtual_accounts("operate").order_by("tree_id", "lft").only("pk", "name", "level")
            )
            if self.virtual_account is None
            else [],
            enabled=self.smart_account.license_reservation_enabled,
            include_subtree=self.include_subtree(),
        )
        return context


class ReservationStartView(AccountScopedMixin, View):
    """`?va=<id>` from the list page's picker: on to the wizard of that VA (one the user may operate on)."""

    allowed_kinds = CUSTOMER
    required_action = "operate"

    def get(self, request, *args, **kwargs):
        va_id = parse_id(request.GET.get("va"))
        va = self.visible_virtual_accounts("operate").filter(pk=va_id).first() if va_id else None
        if va is None:
            messages.error(request, "Choose a Virtual Account you may operate on.")
            return redirect("reservation_list", account_id=self.smart_account.pk)
        return redirect("reservation_create", account_id=self.smart_account.pk, va_id=va.pk)


class ReservationWizardView(AccountScopedMixin, TemplateView):
    """Request code → type and licenses → review → the authorization code. Stateless: each step posts
    everything so far, and every step re-validates it; the service checks it all again."""

    template_name = "licensing/reservations/wizard.html"
    allowed_kinds = CUSTOMER
    required_action = "operate"

    def choice_form(self, device, data=None):
        """Step 2 for this device: only the licenses its product family may take (services.fits_device)."""
        device_family = services.device_product_family(device.pid)
        balances = [
            b
            for b in selectors.reservable_balances(self.virtual_account)
            if services.fits_device(b.license.product_family, device_family)
        ]
        families = selectors.reservable_families(self.virtual_account)
        initial = {}
        guess = services.infer_product_family(device.pid, families)
        if guess:
            initial["product_family"] = guess
        return ReservationChoiceForm(data, balances=balances, families=families, initial=initial)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("step", "request")
        context.setdefault("code_form", RequestCodeForm())
        context["enabled"] = self.smart_account.license_reservation_enabled
        context["steps"] = [("request", "Request code"), ("licenses", "Licenses"), ("review", "Review")]
        return context

    def render_step(self, step, **context):
        return self.render_to_response(self.get_context_data(step=step, **context))

    def post(self, request, *args, **kwargs):
        if not self.smart_account.license_reservation_enabled:
            return self.render_step("request")
        step = request.POST.get("step", "request")
        if step == "request-edit":
            return self.render_step("request", code_form=RequestCodeForm(initial=request.POST.dict()))
        code_form = RequestCodeForm(request.POST, request.FILES, smart_account=self.smart_account)
        if not code_form.is_valid():
            return self.render_step("request", code_form=code_form)
        device = code_form.cleaned_data["request"]
        if step == "request":
            choice_form = self.choice_form(device)
            return self.render_step("licenses", code_form=code_form, device=device, choice_form=choice_form)
        choice_form = self.choice_form(device, request.POST)
        if not choice_form.is_valid() or step == "licenses-edit":
            return self.render_step("licenses", code_form=code_form, device=device, choice_form=choice_form)
        kind = choice_form.cleaned_data["reservation_type"]
        family = choice_form.cleaned_data.get("product_family") or None
        if step == "licenses":
            if kind == Reservation.Type.UNIVERSAL:
                ids = services.universal_licenses(self.virtual_account, family)
                planned = [(lic, 1) for lic in License.objects.filter(pk__in=ids).order_by("name")]
            else:
                planned = sorted(choice_form.cleaned_data["licenses"].items(), key=lambda item: item[0].name)
            return self.render_step(
                "review", code_form=code_form, choice_form=choice_form, device=device, planned=planned, kind=kind
            )
        try:
            reservation = services.reserve_licenses(
                actor=request.user,
                virtual_account=self.virtual_account,
                request_code=device.text,
                reservation_type=kind,
                licenses=choice_form.cleaned_data["licenses"] if kind == Reservation.Type.SPECIFIC else None,
                product_family=family if kind == Reservation.Type.UNIVERSAL else None,
            )
        except ValidationError as error:
            target = code_form if _about_device(error) else choice_form
            apply_validation_error(target, error)
            step = "request" if target is code_form else "licenses"
            return self.render_step(step, code_form=code_form, device=device, choice_form=choice_form)
        messages.success(
            request,
            f"Licenses reserved for {device.udi}. Download the authorization code and install it on the device.",
        )
        return redirect("reservation_detail", account_id=self.smart_account.pk, reservation_id=reservation.pk)


def _about_device(error: ValidationError) -> bool:
    return hasattr(error, "error_dict") and "request_code" in error.error_dict


class ReservationMixin(AccountScopedMixin):
    """Pages of one reservation. Its VA governs the role, so a VA-scoped user sees only their VAs' ones."""

    allowed_kinds = CUSTOMER

    def resolve_virtual_account(self, kwargs):
        visible = sa_selectors.virtual_accounts_for(self.request.user, self.smart_account, "view")
        self.reservation = (
            selectors.reservations_in(visible)
            .filter(pk=kwargs["reservation_id"], smart_account=self.smart_account)
            .first()
        )
        if self.reservation is None:
            raise Http404("No such reservation.")
        return self.reservation.virtual_account

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["reservation"] = self.reservation
        context["instance"] = self.reservation.product_instance
        context["lines"] = list(selectors.reservation_lines(self.reservation))
        return context

    def back(self):
        return redirect("reservation_detail", account_id=self.smart_account.pk, reservation_id=self.reservation.pk)


class ReservationDetailView(ReservationMixin, TemplateView):
    template_name = "licensing/reservations/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        payload = reservation_codes.load_authorization(self.reservation.authorization_code)["payload"]
        context.update(
            authorization=payload,
            public_key=signing.public_key_pem(),
            history=list(Reservation.objects.filter(replaced_by=self.reservation).select_related("product_instance")),
        )
        return context


class AuthorizationDownloadView(ReservationMixin, View):
    def get(self, request, *args, **kwargs):
        instance = self.reservation.product_instance
        response = HttpResponse(self.reservation.authorization_code, content_type="application/json; charset=utf-8")
        filename = f"authorization-{instance.pid}-{instance.serial_number}.json".replace("/", "_")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ReservationActionView(ReservationMixin, TemplateView):
    """A form page about one active reservation."""

    verb = ""

    def get(self, request, *args, **kwargs):
        if self.reservation.status != Reservation.Status.ACTIVE:
            messages.error(request, f"This reservation is no longer active; it cannot be {self.verb}.")
            return self.back()
        return super().get(request, *args, **kwargs)


class ReservationUpdateView(ReservationActionView):
    template_name = "licensing/reservations/update.html"
    required_action = "operate"
    verb = "updated"

    def make_form(self, data=None):
        current = {line.license_id: line for line in selectors.reservation_lines(self.reservation)}
        available = {b.license_id: b for b in selectors.reservable_balances(self.reservation.virtual_account)}
        rows = []
        for license_id in sorted(
            set(current) | set(available), key=lambda i: (current.get(i) or available[i]).license.name
        ):
            license = (current.get(license_id) or available[license_id]).license
            held = current[license_id].quantity if license_id in current else 0
            free = available[license_id].available if license_id in available else 0
            rows.append((license, held, held + free))
        return UpdateReservationForm(data, rows=rows)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", self.make_form())
        return context

    def post(self, request, *args, **kwargs):
        universal = self.reservation.reservation_type == Reservation.Type.UNIVERSAL
        form = self.make_form(None if universal else request.POST)
        if universal or form.is_valid():
            try:
                services.update_reservation(
                    actor=request.user,
                    reservation=self.reservation,
                    licenses=None if universal else form.cleaned_data["licenses"],
                )
            except ValidationError as error:
                if universal:
                    messages.error(request, " ".join(error.messages))
                    return self.back()
                apply_validation_error(form, error)
            else:
                messages.success(request, "Reservation updated. Install the new authorization code on the device.")
                return self.back()
        return self.render_to_response(self.get_context_data(form=form))


class ReservationReleaseView(ReservationActionView):
    template_name = "licensing/reservations/release.html"
    required_action = "operate"
    verb = "released"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", ReturnCodeForm())
        return context

    def post(self, request, *args, **kwargs):
        form = ReturnCodeForm(request.POST)
        if form.is_valid():
            try:
                services.release_reservation(
                    actor=request.user, reservation=self.reservation, return_code=form.cleaned_data["return_code"]
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, "Reservation released: its licenses are available again.")
                return self.back()
        return self.render_to_response(self.get_context_data(form=form))


class ReservationRemoveView(ReservationActionView):
    """Admins remove the reservation of an unmanaged device that cannot give a return code."""

    template_name = "licensing/reservations/remove.html"
    required_action = "admin"
    required_write_action = "admin"
    verb = "removed"

    def make_form(self, data=None):
        return RemoveWithoutCodeForm(data, serial_number=self.reservation.product_instance.serial_number)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", self.make_form())
        return context

    def post(self, request, *args, **kwargs):
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                services.release_reservation(actor=request.user, reservation=self.reservation, return_code=None)
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, "Reservation removed without a return code; its licenses are available.")
                return self.back()
        return self.render_to_response(self.get_context_data(form=form))


class ReservationRehostView(ReservationActionView):
    template_name = "licensing/reservations/rehost.html"
    required_action = "operate"
    verb = "rehosted"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", RehostForm())
        return context

    def post(self, request, *args, **kwargs):
        form = RehostForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                new = services.rehost_reservation(
                    actor=request.user, reservation=self.reservation, request_code=form.cleaned_data["request_code"]
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(
                    request,
                    f"The licenses moved to {new.product_instance.udi}. Install its authorization code on it.",
                )
                return redirect("reservation_detail", account_id=self.smart_account.pk, reservation_id=new.pk)
        return self.render_to_response(self.get_context_data(form=form))
