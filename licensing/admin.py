from django.contrib import admin  # noqa: F401

from . import admin_workflows  # noqa: F401  (hand-overs, PAKs, reservations)
