"""Celery tasks of the licensing app. Tasks are thin: they take ids and call services."""
