"""`/api/v1/` endpoints of this app for people and scripts (usage reports, ACKs, alerts).

The device endpoints (usage reports and change notices pushed by devices) are routed in policy/urls.py.
"""

from django.urls import path  # noqa: F401

urlpatterns: list = []
