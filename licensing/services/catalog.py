"""Licensing services: catalog."""

__all__: list[str] = []
