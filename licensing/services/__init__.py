"""Every write of the licensing app. The entry points named in DESIGN.md are importable from here."""

from .catalog import *  # noqa: F403
from .compliance import *  # noqa: F403
from .expiry import *  # noqa: F403
from .handover import *  # noqa: F403
from .instances import *  # noqa: F403
from .orders import *  # noqa: F403
from .paks import *  # noqa: F403
from .reservations import *  # noqa: F403
from .transfers import *  # noqa: F403
