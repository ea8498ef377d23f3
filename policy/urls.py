from django.urls import path

from . import views
from .api.views import ChangeNoticeView, UsageReportsView

ACCOUNT = "accounts/<id:account_id>/"
VA = ACCOUNT + "virtual-accounts/<id:va_id>/"

urlpatterns = [
    path(ACCOUNT + "reporting/", views.ReportingView.as_view(), name="policy_reporting"),
    path(VA + "reporting/", views.ReportingView.as_view(), name="va_reporting"),
    path(ACCOUNT + "alerts/", views.AlertsView.as_view(), name="policy_alerts"),
    path(
        ACCOUNT + "instances/<id:instance_id>/reporting/",
        views.InstanceReportingView.as_view(),
        name="policy_instance_reporting",
    ),
    path(ACCOUNT + "instances/<id:instance_id>/trust-code/", views.TrustCodeView.as_view(), name="policy_trust_code"),
    path(ACCOUNT + "reports/<id:report_id>/ack.json", views.ReportAckView.as_view(), name="policy_report_ack"),
    path(ACCOUNT + "usage/upload/", views.UsageUploadView.as_view(), name="policy_usage_upload"),
    path(ACCOUNT + "usage/uploads/<id:upload_id>/", views.UploadResultView.as_view(), name="policy_upload_result"),
    path(ACCOUNT + "usage/uploads/<id:upload_id>/acks.json", views.UploadAcksView.as_view(), name="policy_upload_acks"),
    # Public, for devices and offline verification.
    path("signing-key.pem", views.signing_key, name="signing_key"),
    path("schemas/usage-report.schema.json", views.report_schema, name="policy_report_schema"),
    path("api/v1/usage/reports/", UsageReportsView.as_view(), name="api_usage_reports"),
    path("api/v1/usage/change-notices/", ChangeNoticeView.as_view(), name="api_change_notices"),
]
