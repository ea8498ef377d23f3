"""Routes under `/services/api/smart-accounts-and-licensing/` (see the package docstring)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
