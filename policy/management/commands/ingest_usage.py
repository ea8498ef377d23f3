"""Ingest usage report files from the command line (an operator's offline upload)."""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from policy.services import BATCH_SIZE, ingest_usage_reports
from policy.services.ingest import read_usage_file
from smartaccounts.models import VirtualAccount
from smartaccounts.params import parse_id


class Command(BaseCommand):
    help = (
        "Ingest usage reports from FILEs: each file holds one JSON report, a JSON array of reports, "
        '{"reports": [...]}, or JSON Lines. Each report is accepted or refused on its own; refusals are '
        "listed with their reason. Exit status 1 when any report was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--virtual-account",
            metavar="ID",
            help="Create product instances the portal has not seen in this Virtual Account (else they are refused).",
        )
        parser.add_argument("--acks", metavar="FILE", help='Write the ACKs of accepted reports here: {"acks": [...]}.')
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options):
        va = None
        if options["virtual_account"] is not None:
            va_id = parse_id(options["virtual_account"])
            va = (
                VirtualAccount.objects.select_related("smart_account").filter(pk=va_id, deleted_at__isnull=True).first()
                if va_id
                else None
            )
            if va is None:
                raise CommandError(f"No Virtual Account with id {options['virtual_account']}.")
        documents = []
        for name in options["files"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"{name}: no such file.")
            try:
                found = read_usage_file(path.read_bytes())
            except ValidationError as error:
                raise CommandError(f"{name}: {' '.join(error.messages)}") from None
            documents += [(name, index, document) for index, document in enumerate(found, start=1)]

        accepted = replayed = 0
        refused = []
        acks = []
        with tqdm(
            total=len(documents), desc="Usage reports", unit="report", disable=options["no_progress"], file=self.stderr
        ) as progress:
            for start in range(0, len(documents), BATCH_SIZE):
                chunk = documents[start : start + BATCH_SIZE]
                results = ingest_usage_reports(
                    payloads=[document for _, _, document in chunk], source="command", virtual_account=va
                )
                for (name, index, _), result in zip(chunk, results, strict=True):
                    if result.error is not None:
                        report_id = result.report_id or "?"  # made printable: a refused document may hold anything
                        refused.append(f"{name} #{index} (report {report_id}): [{result.code}] {result.message}")
                        continue
                    acks.append(result.acknowledgement.document)
                    if result.outcome.replayed:
                        replayed += 1
                    else:
                        accepted += 1
                progress.update(len(chunk))
        for line in refused:
            self.stderr.write(self.style.ERROR(f"Refused: {line}"))
        if options["acks"]:
            Path(options["acks"]).write_text(json.dumps({"acks": acks}, indent=2, ensure_ascii=False) + "\n")
        summary = f"{accepted} accepted, {replayed} already received, {len(refused)} refused."
        if refused:
            self.stdout.write(self.style.WARNING(summary))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(summary))
