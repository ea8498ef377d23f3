"""Licensing services: reservations."""

__all__: list[str] = []
