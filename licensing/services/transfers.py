"""Licensing services: transfers."""

__all__: list[str] = []
