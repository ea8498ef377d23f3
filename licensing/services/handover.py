"""Licensing services: handover."""

__all__: list[str] = []
