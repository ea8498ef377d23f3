"""Product instance pages: the list (per account or VA) with keyset pages and CSV, detail, remove, bulk transfer."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from smartaccounts.exports import stream_csv
from smartaccounts.lists import ListPageMixin

from .. import selectors, services
from ..filters import InstanceFilter
from ..forms import InstanceTransferForm
from ..models import License
from .base import USABLE_KINDS, LicensingMixin, querystring, safe_next, va_options

__all__ = ["InstanceDetailView", "InstanceRemoveView", "InstancesTransferView", "InstancesView"]


class InstancesView(ListPageMixin, LicensingMixin, TemplateView):
    """Product instances of the account (the VAs the user sees) or of one VA; search, filters, CSV, bulk transfer."""

    template_name = "licensing/instances.html"
    results_template_name = "licensing/_instances_results.html"
    allowed_kinds = USABLE_KINDS
    va_url_name = "va_instances"
    csv = False
    page_size = 50

    @cached_property
    def filters(self) -> InstanceFilter:
        return InstanceFilter(
            self.request.GET,
            selector=partial(selectors.instances_in_scope, self.scope),
            request=self.request,
            families=selectors.license_families(),
            with_subtree=self.virtual_account is not None,
        )

    def queryset(self):
        return self.filters.qs

    def get(self, request, *args, **kwargs):
        if self.csv:
            return self.export()
        return super().get(request, *args, **kwargs)

    def export(self):
        rows = (
            [
                i.hostname,
                i.pid,
                i.serial_number,
                i.product_family,
                i.software_version,
                i.virtual_account.name,
                i.get_status_display(),
                i.get_reporting_status_display(),
                i.registered_at.isoformat(timespec="seconds") if i.registered_at else "",
                i.last_contact_at.isoformat(timespec="seconds") if i.last_contact_at else "",
            ]
            for i in self.queryset().select_related("virtual_account").order_by("hostname", "pk").iterator(2000)
        )
        header = ["Name", "PID", "Serial number", "Product family", "Software version", "Virtual Account",
                  "Status", "Reporting", "Registered", "Last contact"]  # fmt: skip
        where = self.virtual_account.name if self.virtual_account else self.smart_account.name
        slug = "".join(c if c.isalnum() else "-" for c in where.lower()).strip("-")[:60]
        return stream_csv(f"product-instances-{slug}.csv", header, rows)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        page = selectors.instance_page(
            self.queryset(), after=params.get("after", ""), before=params.get("before", ""), size=self.page_size
        )
        license_id = self.filters.value("license")
        can_transfer = self.can("operate")
        context.update(
            filters=self.filters.form,
            page=page,
            csv_query=querystring(params, after=None, before=None),
            license_filter=License.objects.filter(pk=license_id).first() if license_id else None,
            va_choices=self.va_choices(),
            can_transfer=can_transfer,
            transfer_targets=(
                va_options(
                    self.visible_virtual_accounts("operate")
                    .order_by("tree_id", "lft")
                    .values_list("pk", "name", "level")
                )
                if can_transfer
                else ""
            ),
        )
        return context


class InstanceDetailView(LicensingMixin, TemplateView):
    template_name = "licensing/instance_detail.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        instance = selectors.instance_for(self.request.user, self.smart_account, self.kwargs["instance_id"])
        operable = self.visible_virtual_accounts("operate")
        can_change = operable.filter(pk=instance.virtual_account_id).exists()
        reservation = None
        if instance.status == instance.Status.RESERVED:
            # A reserved device uses what its reservation holds; show those licenses and link to it.
            reservation = instance.reservations.filter(status="active").prefetch_related("lines__license").first()
        context.update(
            instance=instance,
            usage=selectors.instance_usage(instance),
            reservation=reservation,
            can_change=can_change and instance.status == instance.Status.ACTIVE,
            transfer_targets=(
                va_options(
                    operable.exclude(pk=instance.virtual_account_id)
                    .order_by("tree_id", "lft")
                    .values_list("pk", "name", "level")
                )
                if can_change
                else ""
            ),
        )
        return context


class InstanceRemoveView(LicensingMixin, TemplateView):
    """POST: remove a product instance; its licenses are freed."""

    http_method_names = ["post"]
    allowed_kinds = USABLE_KINDS

    def post(self, request, *args, **kwargs):
        instance = selectors.instance_for(request.user, self.smart_account, kwargs["instance_id"], "operate")
        back = reverse(
            "va_instances", kwargs={"account_id": self.smart_account.pk, "va_id": instance.virtual_account_id}
        )
        try:
            services.remove_product_instance(actor=request.user, product_instance=instance)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(safe_next(request, back))
        messages.success(request, f"Removed {instance}; the licenses it used are free again.")
        return redirect(back)


class InstancesTransferView(LicensingMixin, TemplateView):
    """POST: move the selected product instances to another VA, with the licenses they use."""

    http_method_names = ["post"]
    allowed_kinds = USABLE_KINDS

    def post(self, request, *args, **kwargs):
        back = safe_next(request, reverse("instances", kwargs={"account_id": self.smart_account.pk}))
        form = InstanceTransferForm(request.POST, targets=self.visible_virtual_accounts("operate"))
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return redirect(back)
        ids = form.cleaned_data["instances"]
        instances = selectors.instances_for_ids(request.user, self.smart_account, ids, "operate")
        if len(instances) != len(set(ids)):
            messages.error(
                request, "Some of the selected product instances are not in Virtual Accounts you can change."
            )
            return redirect(back)
        target = form.cleaned_data["target"]
        try:
            moved = services.transfer_product_instances(actor=request.user, product_instances=instances, target=target)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(back)
        if moved:
            messages.success(request, f"Moved {moved} product instance{'s' if moved != 1 else ''} to {target.name}.")
        else:
            messages.info(request, f"The selected product instances are already in {target.name}.")
        return redirect(back)
