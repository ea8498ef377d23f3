"""Views of the licensing pages; each module holds one area."""

from .compliance import *  # noqa: F403
from .instances import *  # noqa: F403
from .licenses import *  # noqa: F403
from .orders import *  # noqa: F403
from .tokens import *  # noqa: F403
