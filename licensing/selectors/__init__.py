"""Every permission-scoped read of the licensing app."""

from .compliance import *  # noqa: F403
from .holdings import *  # noqa: F403
from .instances import *  # noqa: F403
from .licenses import *  # noqa: F403
from .orders import *  # noqa: F403
from .scope import *  # noqa: F403
