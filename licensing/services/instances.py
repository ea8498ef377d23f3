"""Licensing services: instances."""

__all__: list[str] = []
