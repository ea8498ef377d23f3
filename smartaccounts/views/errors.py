"""The page a request the portal cannot read gets (400)."""

from __future__ import annotations

from django.shortcuts import render

from ..params import BadCursor


def bad_request(request, exception=None):
    """400 with the portal's layout. Only our own `BadCursor` explains itself (its text is ours); other
    refusals (a forged host, a broken upload) say no more than that the request could not be read."""
    reason = str(exception) if isinstance(exception, BadCursor) else "The request could not be read."
    return render(request, "400.html", {"reason": reason}, status=400)
