"""The device endpoints: usage reports and change notices, JSON over HTTP.

No session, no CSRF and no token: each document is signed with its instance's trust code
(HMAC-SHA256), and the instance is found by the UDI the document names. A document signed with
any other key (another device's, another account's) is refused, so a device can never report
for an instance that is not its own. Errors: `{"code", "detail", "fields"}` (config.api); in a batch,
each refused report is answered on its own: `{"report_id", "status": "refused", "code", "detail"}`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import error_body, validation_error_body
from smartaccounts.ratelimits import UsageReportThrottle

from ..formats import split_batch
from ..models import UsageReport
from ..services import ingest_report, ingest_usage_reports, record_change_notice

__all__ = ["ChangeNoticeView", "UsageReportsView"]

MAX_BATCH = 1000
# Refusal codes → HTTP status (anything else refused is a 400).
STATUS_FOR_CODE = {
    "unknown_instance": status.HTTP_404_NOT_FOUND,
    "no_trust_code": status.HTTP_403_FORBIDDEN,
    "signature_missing": status.HTTP_401_UNAUTHORIZED,
    "signature_invalid": status.HTTP_401_UNAUTHORIZED,
    "partner_holding": status.HTTP_403_FORBIDDEN,
    "reserved": status.HTTP_409_CONFLICT,
    "duplicate_id": status.HTTP_409_CONFLICT,
    "out_of_date": status.HTTP_409_CONFLICT,
    "already_reported": status.HTTP_409_CONFLICT,
    "account_usage_limit": status.HTTP_409_CONFLICT,
}


class DeviceThrottle(UsageReportThrottle):
    """Per client address as the portal's edge saw it (TRUSTED_PROXY_COUNT), never a client-written header."""


def _refused(error: ValidationError) -> dict:
    body = validation_error_body(error)
    return {"code": body["code"], "detail": body["detail"]}


class DeviceAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [DeviceThrottle]
    status_for_code = STATUS_FOR_CODE  # how `config.api.exception_handler` answers a refusal


class UsageReportsView(DeviceAPIView):
    """POST one signed usage report (answer: its ACK) or a batch (a JSON array, or {"reports": [...]}):
    answer `{"results": [...]}`, one per report in order, each `accepted`, `already received` (with its
    ACK) or `refused` (with `code` and `detail`). A batch is ingested in one transaction
    (`ingest_usage_reports`)."""

    caps_nesting = True  # a report nested too deep is refused alone (`too_deep`), not the whole batch

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 401: OpenApiTypes.OBJECT},
        description="A usage report (JSON Schema at /schemas/usage-report.schema.json) signed with the instance's "
        "trust code, or a batch of them. Answers with the signed ACK, or one result per report for a batch.",
        auth=[],
    )
    def post(self, request):
        body = request.data
        batch = isinstance(body, list) or (isinstance(body, dict) and set(body) == {"reports"})
        documents = split_batch(body)
        if not documents:
            return Response(error_body("empty", "The batch holds no reports."), status=400)
        if len(documents) > MAX_BATCH:
            return Response(
                error_body("too_many", f"Send at most {MAX_BATCH} reports at a time."),
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if not batch:
            # A refusal (`Refusal`, with its code) is answered by config.api.exception_handler.
            outcome = ingest_report(documents[0], source=UsageReport.Source.DEVICE)
            return Response(outcome.acknowledgement.document)
        # A batch is one transaction: each report accepted, already received or refused on its own.
        results = []
        for result in ingest_usage_reports(payloads=documents, source=UsageReport.Source.DEVICE):
            report_id = result.report_id or None  # as the document names it, made printable
            if result.error is not None:
                results.append({"report_id": report_id, "status": "refused", **_refused(result.error)})
            else:
                results.append(
                    {"report_id": report_id, "status": result.status, "ack": result.acknowledgement.document}
                )
        return Response({"results": results})


class ChangeNoticeView(DeviceAPIView):
    """POST a signed change notice: the changes are recorded as pending and the deadline moves."""

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        description="A change notice (software upgrades and feature changes before the next report), signed "
        "with the instance's trust code. Answers with the pending change and the new deadline.",
        auth=[],
    )
    def post(self, request):
        answer = record_change_notice(payload=request.data)
        return Response(answer, status=status.HTTP_201_CREATED if answer["recorded"] else status.HTTP_200_OK)
