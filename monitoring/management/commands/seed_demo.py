"""Fill the sync tables with realistic demo data (set-based SQL; 1M leads / 10M history in minutes)."""
from __future__ import annotations

import argparse
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services.demo_data import seed_demo


def _non_negative(value: str) -> int:
    number = int(value.replace("_", ""))
    if number < 0:
        raise ValueError(value)
    return number


def _timestamp(value: str) -> datetime:
    """ISO 8601 with a zone ("Z" or an offset); a time without one is refused, not guessed."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; add +00:00 or Z")
    return moment


class Command(BaseCommand):
    help = (
        "Seed customer_segments, leads and lead_sync_history with deterministic demo data "
        "(same --seed, same rows). Refuses tables that already hold leads unless --reset or --if-empty."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=_non_negative, default=20_000, help="leads to create (default 20000)")
        parser.add_argument(
            "--history", type=_non_negative, default=200_000, help="sync attempts to create (default 200000)"
        )
        parser.add_argument("--days", type=int, default=30, help="days of history, ending at --now (default 30)")
        parser.add_argument(
            "--now", type=_timestamp, default=None, metavar="TIMESTAMP",
            help="anchor every relative time here, e.g. 2026-11-30T12:00:00+00:00 (default: the current time); "
                 "the same --seed and --now give identical rows",
        )
        parser.add_argument(
            "--older-copies", type=_non_negative, default=0, metavar="K",
            help="repeat the seeded rows K times further back, --days apart, as settled history: the same "
                 "write rate over a longer past (the benchmarks' 1M/10M at the rate of 100k/1M; default 0)",
        )
        parser.add_argument("--seed", type=int, default=42, help="pseudo-random seed (default 42)")
        parser.add_argument("--reset", action="store_true", help="empty the three tables first")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when leads already exist (used by ./portal up)"
        )

    def handle(self, *args, **options) -> None:
        verbose = options["verbosity"] > 0

        def progress(message: str) -> None:
            if verbose:
                self.stdout.write(f"seed_demo {message}")
                self.stdout.flush()

        try:
            result = seed_demo(
                leads=options["leads"],
                history=options["history"],
                days=options["days"],
                seed=options["seed"],
                reset=options["reset"],
                if_empty=options["if_empty"],
                progress=progress,
                now=options["now"],
                older_copies=options["older_copies"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if result.skipped:
            self.stdout.write("seed_demo: leads already present, left as they are (--if-empty)")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: {result.segments} segments, {result.leads:,} leads, {result.history:,} history rows "
                f"in {result.seconds:.1f} s"
            )
        )
