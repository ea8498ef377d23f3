"""Licensing services: compliance."""

__all__: list[str] = []
