"""`/api/v1/` endpoints of this app (accounts, Virtual Accounts, members, events, API clients)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
