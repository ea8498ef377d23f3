"""Licensing services: paks."""

__all__: list[str] = []
