"""Fixtures of the accounts tests."""

import pytest

from tests.factories import make_user


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs the on-commit callbacks (mail is sent on commit) when the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def staff(db):
    return make_user("ops@operator.example.net", is_staff=True, is_superuser=True)


def link_in(message, marker: str) -> str:
    """The path of the first link in an e-mail body that contains `marker`."""
    for line in message.body.splitlines():
        if marker in line and "://" in line:
            return "/" + line.strip().split("://", 1)[1].split("/", 1)[1]
    raise AssertionError(f"No link with {marker!r} in:\n{message.body}")
