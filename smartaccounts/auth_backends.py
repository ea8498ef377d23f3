"""Authentication backends: django-axes' login lockout in front of Django's model backend."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out login before the password is checked (django-axes).

    Every login over HTTP (the login page, the admin's) passes its request, which the lockout is
    keyed on. A call without one (a script, the test client's `login()`) has no client address to
    lock out, so it is left to the next backend instead of failing, as axes' own backend would.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
