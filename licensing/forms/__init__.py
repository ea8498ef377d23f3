"""Forms of the licensing pages."""

from .instances import *  # noqa: F403
from .licenses import *  # noqa: F403
