"""Usage reports, their ACKs and alerts of one account in the native API (`/api/v1/accounts/<id>/...`).

The same rights and reads as the pages (policy/views.py): Customer and Limited Use accounts; everything
through `policy.selectors`, narrowed to the instances and VAs the caller can see. Uploading reports is
the offline upload page's service (`upload_usage_file`, source `upload`): unknown instances are created
in the VA the body names, which the caller must be able to see (404) and operate on (403).

Alerts have no actions: they open and resolve themselves as reports arrive and deadlines pass
(`policy.deadlines`), as on the Alerts page.
"""

from __future__ import annotations

import json

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from licensing.api.workflows import (
    IdField,
    NamedVirtualAccount,
    body_virtual_account,
    check_filter_virtual_account,
    va_ref,
)
from licensing.models import ProductInstance
from smartaccounts.api.base import AccountApiView
from smartaccounts.models import SmartAccount
from smartaccounts.params import BadCursor

from .. import selectors, services
from ..models import Alert, UsageReport

__all__ = ["AlertListView", "UsageReportAckView", "UsageReportDetailView", "UsageReportListView"]

USABLE_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)
MAX_REPORTS_PER_REQUEST = 1000  # as the device endpoint; a larger file goes through the upload page
ALERT_PAGE_SIZE, MAX_ALERT_PAGE_SIZE = 100, 1000


class ReportingInstance(serializers.Serializer):
    id = serializers.IntegerField()
    udi = serializers.CharField()
    hostname = serializers.CharField(allow_blank=True)
    virtual_account = NamedVirtualAccount()


def instance_ref(instance: ProductInstance) -> dict:
    return {
        "id": instance.pk,
        "udi": instance.udi,
        "hostname": instance.hostname,
        "virtual_account": va_ref(instance.virtual_account),
    }


# --- Usage reports ----------------------------------------------------------------------------------------


class AckSummary(serializers.Serializer):
    ack_id = serializers.UUIDField()
    next_due_at = serializers.DateTimeField(allow_null=True, help_text="Null: no further report required.")
    policy = serializers.CharField(help_text="The policy version the ACK applied.")
    created_at = serializers.DateTimeField()


class UsageReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    report_id = serializers.UUIDField(help_text="The id the device gave the report.")
    product_instance = ReportingInstance()
    source = serializers.ChoiceField(choices=UsageReport.Source.choices)
    generated_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    signed = serializers.BooleanField()
    software_version = serializers.CharField(allow_blank=True)
    uploaded_by = serializers.EmailField(allow_null=True, help_text="Who uploaded it (offline uploads).")
    ack = AckSummary(allow_null=True)


class UsageReportDetailSerializer(UsageReportSerializer):
    payload = serializers.JSONField(help_text="The report as received.")


def report_data(report: UsageReport, *, payload: bool = False) -> dict:
    ack = report.acknowledgement
    data = {
        "id": report.pk,
        "report_id": report.report_id,
        "product_instance": instance_ref(report.product_instance),
        "source": report.source,
        "generated_at": report.generated_at,
        "received_at": report.received_at,
        "signed": report.signed,
        "software_version": report.software_version,
        "uploaded_by": report.actor.email if report.actor else None,
        "ack": None
        if ack is None
        else {
            "ack_id": ack.ack_id,
            "next_due_at": ack.next_due_at,
            "policy": str(ack.policy_version),
            "created_at": ack.created_at,
        },
    }
    if payload:
        data["payload"] = report.payload
    return data


class ReportFilterSerializer(serializers.Serializer):
    virtual_account = IdField(required=False, help_text="Reports of instances in this VA (not its sub-VAs).")
    instance = IdField(required=False, help_text="Reports of this product instance.")
    generated_after = serializers.DateTimeField(required=False, help_text="Generated at or after (ISO 8601).")
    generated_before = serializers.DateTimeField(required=False, help_text="Generated before (ISO 8601).")


class UploadSerializer(serializers.Serializer):
    virtual_account_id = IdField(help_text="Product instances the portal has not seen are created in this VA.")
    reports = serializers.ListField(
        child=serializers.JSONField(),
        allow_empty=False,
        max_length=MAX_REPORTS_PER_REQUEST,
        help_text="Usage reports as the devices wrote them (JSON Schema at /schemas/usage-report.schema.json).",
    )
    file_name = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True, help_text="A name to find the upload by."
    )


class UploadResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the report in the request, from 1.")
    report_id = serializers.CharField(allow_blank=True)
    udi = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["accepted", "already received", "refused"])
    code = serializers.CharField(allow_blank=True, help_text="Why it was refused.")
    detail = serializers.CharField(allow_blank=True)
    report = serializers.IntegerField(allow_null=True, help_text="The stored report's id (.../usage-reports/<id>/).")


class UploadAnswerSerializer(serializers.Serializer):
    upload_id = serializers.IntegerField()
    virtual_account = NamedVirtualAccount()
    accepted_count = serializers.IntegerField()
    refused_count = serializers.IntegerField()
    results = UploadResultSerializer(many=True)
    acks = serializers.ListField(
        child=serializers.DictField(), help_text="The signed ACKs of the accepted reports, for the devices."
    )


class PolicyApiView(AccountApiView):
    allowed_kinds = USABLE_KINDS


class UsageReportListView(PolicyApiView):
    """`GET`: usage reports of the instances the caller can see, newest first. `POST`: upload offline reports."""

    ordering = ("-generated_at", "-pk")
    serializer_class = UsageReportSerializer

    @extend_schema(parameters=[ReportFilterSerializer], responses=UsageReportSerializer(many=True))
    def get(self, request, *args, **kwargs):
        filters = ReportFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        check_filter_virtual_account(self, wanted.get("virtual_account"))
        if (
            "instance" in wanted
            and not selectors.instances_for(request.user, self.smart_account).filter(pk=wanted["instance"]).exists()
        ):
            raise serializers.ValidationError({"instance": "Not a product instance you can see in this account."})
        reports = selectors.reports_for(
            request.user,
            self.smart_account,
            virtual_account_id=wanted.get("virtual_account"),
            instance_id=wanted.get("instance"),
            generated_after=wanted.get("generated_after"),
            generated_before=wanted.get("generated_before"),
        )
        page = self.paginate_queryset(reports)
        return self.get_paginated_response(UsageReportSerializer([report_data(r) for r in page], many=True).data)

    @extend_schema(
        request=UploadSerializer,
        responses={201: UploadAnswerSerializer},
        description="As the offline upload page: each report is accepted, already received (its ACK again) or "
        "refused with its reason; the upload is kept and logged. Rights: the User role on the VA and on the VA "
        "of any instance reported.",
    )
    def post(self, request, *args, **kwargs):
        payload = UploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        va = body_virtual_account(self, data["virtual_account_id"])
        upload = services.upload_usage_file(
            actor=request.user,
            virtual_account=va,
            file_name=data["file_name"],
            content=json.dumps({"reports": data["reports"]}).encode(),
        )
        results = [
            {
                "index": row["index"],
                "report_id": row["report_id"],
                "udi": row["udi"],
                "status": row["status"],
                "code": row.get("reason", ""),
                "detail": row["message"] if row["status"] == "refused" else "",
                "report": row.get("report"),
            }
            for row in upload.results
        ]
        answer = {
            "upload_id": upload.pk,
            "virtual_account": va_ref(va),
            "accepted_count": upload.accepted_count,
            "refused_count": upload.refused_count,
            "results": results,
            "acks": selectors.upload_acks(request.user, self.smart_account, upload),
        }
        return Response(UploadAnswerSerializer(answer).data, status=status.HTTP_201_CREATED)


class ReportMixin(PolicyApiView):
    def get_report(self) -> UsageReport:
        try:
            return selectors.report_for(self.request.user, self.smart_account, self.kwargs["report_id"])
        except UsageReport.DoesNotExist:
            raise Http404("No such report.") from None


class UsageReportDetailView(ReportMixin):
    serializer_class = UsageReportDetailSerializer

    @extend_schema(responses=UsageReportDetailSerializer)
    def get(self, request, *args, **kwargs):
        return Response(UsageReportDetailSerializer(report_data(self.get_report(), payload=True)).data)


class UsageReportAckView(ReportMixin):
    """The signed ACK of one report, as the device takes it back (verify with /signing-key.pem)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, *args, **kwargs):
        ack = self.get_report().acknowledgement
        if ack is None:  # pragma: no cover - every stored report has its ACK
            raise Http404("This report has no ACK.")
        return Response(ack.document)


# --- Alerts -----------------------------------------------------------------------------------------------


class AlertedInstance(serializers.Serializer):
    id = serializers.IntegerField()
    udi = serializers.CharField()


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Alert.Kind.choices)
    severity = serializers.ChoiceField(choices=Alert.Severity.choices)
    message = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    opened_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True, help_text="Null while the alert is open.")
    virtual_account = NamedVirtualAccount()
    product_instance = AlertedInstance()


class AlertPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="Older alerts.")
    previous = serializers.URLField(allow_null=True, help_text="Newer alerts.")
    results = AlertSerializer(many=True)


class AlertFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["open", "resolved", "all"], default="open")
    kind = serializers.ChoiceField(choices=Alert.Kind.choices, required=False)
    severity = serializers.ChoiceField(choices=Alert.Severity.choices, required=False)
    virtual_account = IdField(required=False)
    after = serializers.CharField(required=False, max_length=500, help_text="Cursor: the page after (older).")
    before = serializers.CharField(required=False, max_length=500, help_text="Cursor: the page before (newer).")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ALERT_PAGE_SIZE)


class AlertListView(PolicyApiView):
    """The alerts of the VAs the caller can see, newest first, paged by key as the Alerts page."""

    serializer_class = AlertSerializer
    pagination_class = None

    @extend_schema(parameters=[AlertFilterSerializer], responses=AlertPageSerializer)
    def get(self, request, *args, **kwargs):
        filters = AlertFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        check_filter_virtual_account(self, wanted.get("virtual_account"))
        alerts = selectors.alerts_for(
            request.user,
            self.smart_account,
            state=wanted["state"],
            kind=wanted.get("kind", ""),
            severity=wanted.get("severity", ""),
            virtual_account_id=wanted.get("virtual_account"),
            whole_account=self.account_role is not None,
        )
        try:
            page = selectors.alert_page(
                alerts,
                after=wanted.get("after", ""),
                before=wanted.get("before", ""),
                size=wanted.get("page_size", ALERT_PAGE_SIZE),
            )
        except BadCursor as error:
            raise serializers.ValidationError({"after" if "after" in wanted else "before": str(error)}) from None
        url = remove_query_param(remove_query_param(request.build_absolute_uri(), "after"), "before")
        answer = {
            "next": replace_query_param(url, "after", page.next_cursor) if page.next_cursor else None,
            "previous": replace_query_param(url, "before", page.previous_cursor) if page.previous_cursor else None,
            "results": [
                {
                    "id": alert.pk,
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "message": alert.message,
                    "due_at": alert.due_at,
                    "opened_at": alert.opened_at,
                    "resolved_at": alert.resolved_at,
                    "virtual_account": va_ref(alert.virtual_account),
                    "product_instance": {"id": alert.product_instance_id, "udi": alert.product_instance.udi},
                }
                for alert in page
            ],
        }
        return Response(AlertPageSerializer(answer).data)
