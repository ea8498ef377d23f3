"""The policy pages: reporting status, alerts, an instance's reporting, offline usage upload."""

from __future__ import annotations

import json
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.decorators.http import require_GET
from django.views.generic import FormView, TemplateView

from licensing.models import ProductInstance
from licensing.navigation import account_home_instance_counts
from licensing.views.base import querystring
from smartaccounts.lists import ListPageMixin
from smartaccounts.mixins import AccountScopedMixin
from smartaccounts.models import SmartAccount
from smartaccounts.pagination import offset_page
from smartaccounts.params import parse_id
from smartaccounts.tree import tree_nodes
from smartaccounts.views import apply_validation_error

from . import rules as policy_rules
from . import selectors, services, signing
from .filters import AlertFilter, ReportingFilter
from .formats import REPORT_SCHEMA, schema_text
from .forms import UsageUploadForm
from .models import UsageReport, UsageUpload

USABLE_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)
Status = ProductInstance.ReportingStatus
PAGE_SIZE = 50


class PolicyPageMixin(AccountScopedMixin):
    """Account pages of the policy app: not for Partner Holding accounts (they have no devices)."""

    allowed_kinds = USABLE_KINDS

    def va_choices(self):
        # Light rows (pk, name, level, ...): the filter only shows them, and an account may have thousands.
        return tree_nodes(self.visible_virtual_accounts("view").order_by("tree_id", "lft"))


class ReportingView(ListPageMixin, PolicyPageMixin, TemplateView):
    """Every product instance the user can see, by reporting status, soonest deadline first."""

    template_name = "policy/reporting.html"
    results_template_name = "policy/_reporting_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = ReportingFilter(
            self.request.GET or None,
            selector=partial(selectors.reporting_instances, self.request.user, self.smart_account),
            request=self.request,
            virtual_accounts=self.va_choices(),
        )
        page = offset_page(filters.qs, self.request.GET, PAGE_SIZE)
        context.update(
            form=filters.form,
            page=page,
            instances=page.object_list,
            counts=selectors.reporting_counts(
                self.request.user, self.smart_account, whole_account=self.account_role is not None
            ),
            policy=selectors.policy_in_force(self.smart_account),
            statuses=Status,
        )
        return context


class AlertsView(ListPageMixin, PolicyPageMixin, TemplateView):
    template_name = "policy/alerts.html"
    results_template_name = "policy/_alerts_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = AlertFilter(
            self.request.GET or None,
            selector=partial(
                selectors.alerts_for,
                self.request.user,
                self.smart_account,
                whole_account=self.account_role is not None,
            ),
            request=self.request,
            virtual_accounts=self.va_choices(),
        )
        params = self.request.GET
        # Newest first, paged by key (older / newer than the last row seen): alerts accumulate without end.
        page = selectors.alert_page(
            filters.qs, after=params.get("after", ""), before=params.get("before", ""), size=PAGE_SIZE
        )
        context.update(
            form=filters.form,
            page=page,
            now=timezone.now(),
            is_filtered=bool(querystring(params, after=None, before=None)),
        )
        return context


class InstanceMixin(PolicyPageMixin):
    instance_action = "view"

    def dispatch(self, request, *args, **kwargs):
        self.instance_id = kwargs["instance_id"]
        return super().dispatch(request, *args, **kwargs)

    def get_instance(self, action: str = "view") -> ProductInstance:
        try:
            return selectors.instance_for(self.request.user, self.smart_account, self.instance_id, action)
        except ProductInstance.DoesNotExist:
            raise Http404("No such product instance.") from None


class InstanceReportingView(InstanceMixin, TemplateView):
    """An instance's reporting: policy in force, last report, next deadline, history, usage chart."""

    template_name = "policy/instance_reporting.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        instance = self.get_instance()
        reports = offset_page(selectors.reports_of(instance), self.request.GET, 20)
        operate = selectors.instances_for(self.request.user, self.smart_account, "operate").filter(pk=instance.pk)
        policy = selectors.policy_in_force(self.smart_account)
        usage = selectors.current_usage(instance)
        classes = {row.license.policy_class for row in usage if row.count > 0}
        terms = policy_rules.terms_for(policy["by_class"], classes) if instance.status == "active" else None
        context.update(
            instance=instance,
            page_obj=reports,
            reports=reports.object_list,
            changes=list(selectors.changes_of(instance)[:20]),
            pending_changes=list(selectors.changes_of(instance).filter(report__isnull=True)),
            usage=usage,
            series=selectors.usage_series(instance),
            policy=policy,
            terms=terms if terms is not None and terms.applies else None,
            can_operate_instance=operate.exists(),
            due_soon_days=settings.REPORTING_DUE_SOON_DAYS,
        )
        return context


class TrustCodeView(InstanceMixin, TemplateView):
    """POST: issue a new trust code and show it once (the answer is not cached; the code is not kept for display)."""

    template_name = "policy/trust_code.html"
    required_write_action = "operate"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        instance = self.get_instance("operate")
        try:
            code = services.reissue_trust_code(actor=request.user, product_instance=instance)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("policy_instance_reporting", account_id=self.smart_account.pk, instance_id=instance.pk)
        response = self.render_to_response(self.get_context_data(instance=instance, trust_code=code))
        add_never_cache_headers(response)
        return response


def _json_download(document, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReportAckView(PolicyPageMixin, View):
    """The signed ACK of one accepted report, as the JSON file a device takes back."""

    def get(self, request, *args, **kwargs):
        try:
            report = selectors.report_for(request.user, self.smart_account, kwargs["report_id"])
        except UsageReport.DoesNotExist:
            raise Http404("No such report.") from None
        ack = report.acknowledgement
        if ack is None:  # pragma: no cover - every accepted report has its ACK
            raise Http404("This report has no ACK.")
        return _json_download(ack.document, f"ack-{ack.ack_id}.json")


class UsageUploadView(PolicyPageMixin, FormView):
    """Upload an offline usage file into a VA the user may operate on."""

    template_name = "policy/upload.html"
    form_class = UsageUploadForm
    required_action = "operate"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["virtual_accounts"] = self.visible_virtual_accounts("operate")
        return kwargs

    def get_initial(self):
        va = parse_id(self.request.GET.get("va"))
        return {"virtual_account": va} if va else {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["uploads"] = selectors.uploads_for(self.request.user, self.smart_account)[:10]
        return context

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        try:
            result = services.upload_usage_file(
                actor=self.request.user,
                virtual_account=form.cleaned_data["virtual_account"],
                file_name=upload.name,
                content=upload.read(),
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"{upload.name}: {result.accepted_count} report(s) accepted, {result.refused_count} refused.",
        )
        return redirect("policy_upload_result", account_id=self.smart_account.pk, upload_id=result.pk)


class UploadMixin(PolicyPageMixin):
    def get_upload(self) -> UsageUpload:
        try:
            return selectors.uploads_for(self.request.user, self.smart_account).get(pk=self.kwargs["upload_id"])
        except UsageUpload.DoesNotExist:
            raise Http404("No such upload.") from None


class UploadResultView(UploadMixin, TemplateView):
    template_name = "policy/upload_result.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        upload = self.get_upload()
        instance_ids = {r["instance"] for r in upload.results if r.get("instance")}
        visible = set(
            selectors.instances_for(self.request.user, self.smart_account)
            .filter(pk__in=instance_ids)
            .values_list("pk", flat=True)
        )
        # A report accepted for an instance in a VA this user cannot see shows only that it was accepted.
        results = [
            row
            if row["status"] == "refused" or row.get("instance") in visible
            else {**row, "udi": "", "message": "Accepted for a product instance in another Virtual Account."}
            for row in upload.results
        ]
        context.update(upload=upload, results=results, visible_instances=visible)
        return context


class UploadAcksView(UploadMixin, View):
    """The ACKs of an upload's accepted reports in one file: {"acks": [...]}, to carry back to the devices."""

    def get(self, request, *args, **kwargs):
        upload = self.get_upload()
        documents = selectors.upload_acks(self.request.user, self.smart_account, upload)
        return _json_download({"acks": documents}, f"acks-upload-{upload.pk}.json")


@require_GET
def signing_key(request):
    """The portal's Ed25519 public key (PEM): verify ACKs and authorization codes offline."""
    return HttpResponse(signing.public_key_pem(), content_type="text/plain; charset=utf-8")


@require_GET
def report_schema(request):
    return HttpResponse(schema_text(REPORT_SCHEMA), content_type="application/schema+json")


def usage_dashboard_context(view) -> dict:
    """The account-home panel: instances per reporting status and the policy in force. The counts are the
    ones the license panel reads too (one query for both, over the materialised counts)."""
    counts = account_home_instance_counts(view)
    base = reverse("policy_reporting", kwargs={"account_id": view.smart_account.pk})
    tiles = [
        {"label": "OK", "count": counts[Status.OK], "url": f"{base}?status=ok", "tone": "ok"},
        {"label": "Due soon", "count": counts[Status.DUE_SOON], "url": f"{base}?status=due_soon", "tone": "warn"},
        {"label": "Overdue", "count": counts[Status.OVERDUE], "url": f"{base}?status=overdue", "tone": "bad"},
        {
            "label": "Not required",
            "count": counts[Status.NOT_REQUIRED],
            "url": f"{base}?status=not_required",
            "tone": "",
        },
    ]
    return {
        "tiles": tiles,
        "policy": selectors.policy_in_force(view.smart_account),
        "alerts_url": reverse("policy_alerts", kwargs={"account_id": view.smart_account.pk}),
        "reporting_url": base,
        "total": sum(counts.values()),
    }


__all__ = [
    "AlertsView",
    "InstanceReportingView",
    "ReportAckView",
    "ReportingView",
    "TrustCodeView",
    "UploadAcksView",
    "UploadResultView",
    "UsageUploadView",
    "report_schema",
    "signing_key",
    "usage_dashboard_context",
]
