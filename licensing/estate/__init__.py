"""A large, realistic estate written with PostgreSQL COPY: for `manage.py generate_estate` and the benchmarks.

`generate(spec, seed=...)` makes one large customer account and many small ones; the same seed gives
the same estate. `copy` holds the model-driven COPY writer it uses.
"""

from .generator import Generator, generate
from .spec import BENCH_PASSWORD, LARGE_DOMAIN, EstateResult, EstateSpec

__all__ = ["BENCH_PASSWORD", "LARGE_DOMAIN", "EstateResult", "EstateSpec", "Generator", "generate"]
