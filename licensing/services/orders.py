"""Licensing services: orders."""

__all__: list[str] = []
