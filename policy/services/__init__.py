"""Every write of the policy app. `ingest_usage_report` is the entry point DESIGN.md names.

Modules by area: `ingest` (usage reports, ACKs, offline uploads), `notices` (change notices),
`trust` (trust codes), `policies` (policies, versions, assignments; staff only), `digests`
(the daily overdue e-mail). Deadline evaluation lives in `policy.deadlines` and is re-exported here.
"""

from ..deadlines import evaluate_reporting_deadlines  # noqa: F401
from .digests import *  # noqa: F403
from .ingest import *  # noqa: F403
from .notices import *  # noqa: F403
from .policies import *  # noqa: F403
from .polls import *  # noqa: F403
from .trust import *  # noqa: F403
