"""Recompute every rollup from the tables (the sync may keep writing), or only check them."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services import rollups


class Command(BaseCommand):
    help = (
        "Recompute the dashboard rollups from leads and lead_sync_history in short batches (one UTC day "
        "each, its own transaction) while the sync keeps writing. --verify-only compares them with the "
        "tables instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--verify-only", action="store_true", help="only compare; exit 1 when they disagree")

    def handle(self, *args, **options) -> None:
        if options["verify_only"]:
            result = rollups.verify_rollups()
            if not result.agree:
                raise CommandError(f"rollups disagree with the tables: {result.mismatches} ({result.seconds} s)")
            self.stdout.write(self.style.SUCCESS(f"rebuild_rollups: rollups agree with the tables ({result.seconds} s)"))
            return
        result = rollups.rebuild_rollups()
        folded = rollups.compact_rollups()
        self.stdout.write(
            self.style.SUCCESS(
                f"rebuild_rollups: {result.history_days} days of history in {result.seconds} s "
                f"({result.batches} batches, the longest {result.longest_batch_seconds} s); "
                f"then folded {folded.folded} deltas written meanwhile"
            )
        )
