"""`/api/v1/` endpoints of this app for people and scripts (usage reports, ACKs, alerts).

The device endpoints (usage reports and change notices pushed by devices) are routed in policy/urls.py.
"""

from django.urls import path

from . import resources

ACCOUNT = "api/v1/accounts/<id:account_id>/"
REPORT = ACCOUNT + "usage-reports/<id:report_id>/"

urlpatterns = [
    path(ACCOUNT + "usage-reports/", resources.UsageReportListView.as_view(), name="api_usage_report_list"),
    path(REPORT, resources.UsageReportDetailView.as_view(), name="api_usage_report"),
    path(REPORT + "ack/", resources.UsageReportAckView.as_view(), name="api_usage_report_ack"),
    path(ACCOUNT + "alerts/", resources.AlertListView.as_view(), name="api_alerts"),
]
