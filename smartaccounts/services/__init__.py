"""Every write to Smart Accounts, Virtual Accounts, roles, people and the event log.

Services are keyword-only and atomic. A broken rule raises ValidationError with a message a
person can act on; missing rights raise PermissionDenied. Each service records its event.
The modules, by area: `events` (event log, e-mail, permission checks), `accounts`,
`virtual_accounts` (the tree, under a per-account lock), `roles`, `people` (adding by e-mail,
invitations, access requests) and `signup`.
"""

from .accounts import *  # noqa: F403
from .api_clients import *  # noqa: F403
from .events import *  # noqa: F403
from .people import *  # noqa: F403
from .roles import *  # noqa: F403
from .signup import *  # noqa: F403
from .virtual_accounts import *  # noqa: F403
