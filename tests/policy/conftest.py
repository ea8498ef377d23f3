import pytest

from .helpers import ensure_policy_seed_rows


@pytest.fixture(autouse=True)
def _policy_seed_rows(request):
    """The default policy and the beat rows exist in every policy test, transactional ones included."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        transactional = marker.kwargs.get("transaction") or (marker.args and marker.args[0])
        request.getfixturevalue("transactional_db" if transactional else "db")
        ensure_policy_seed_rows()
    return
