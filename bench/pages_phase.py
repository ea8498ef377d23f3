"""The pages phase of the benchmark alone (bench/pages.py), for working on the pages:

    python -m bench.pages_phase [--scale 0.25] [--database NAME] [--reuse] [--requests 20] [--json FILE]

On a fresh estate generated as `python -m bench` makes it (the database is dropped and made again), or with
`--reuse` on the estate already in the database. It prints the pages' tables (the pages, their floor, where
a small page's time goes) and writes the results only where `--json` says.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench import __main__ as bench


def find_estate():
    """The estate already in the database: the large account and the first small one."""
    from licensing.estate.generator import LARGE_DOMAIN
    from smartaccounts.models import SmartAccount

    return SmartAccount.objects.get(domain=LARGE_DOMAIN), SmartAccount.objects.get(domain="small01.example.org")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages_phase", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.25, help="Estate size of a fresh estate (default 0.25).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database", default="smartaccounts_bench_pages")
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--reuse", action="store_true", help="Measure the estate already in the database.")
    parser.add_argument("--requests", type=int, default=20, help="Requests per page (default 20).")
    parser.add_argument("--json", type=Path, default=None, help="Write the results here too.")
    args = parser.parse_args(argv)
    if args.reuse:
        bench.configure(f"{args.server}/{args.database}")
        large, small = find_estate()
    else:
        bench.configure(bench.fresh_database(args.server, args.database))
        from licensing.estate import EstateSpec
        from smartaccounts.models import SmartAccount

        estate, _ = bench.generate_estate(EstateSpec().scaled(args.scale), seed=args.seed)
        large = SmartAccount.objects.get(pk=estate.large_account_id)
        small = SmartAccount.objects.get(pk=estate.small_account_ids[0])
    from bench import pages
    from bench.report import page_lines

    results = pages.run(large, small, requests=args.requests)
    print("\n".join(page_lines(results)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
