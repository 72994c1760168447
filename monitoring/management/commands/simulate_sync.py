"""manage.py simulate_sync: a live stand-in for the n8n sync (see monitoring.services.simulator)."""
from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from psycopg.conninfo import make_conninfo

from monitoring.services.simulator import STALL_CHOICES, Simulator, SimulatorOptions, SimulatorReport


def conninfo_from_settings() -> str:
    """The default database's connection string: the simulator opens its own connections to it."""
    params = connection.get_connection_params()
    keys = ("dbname", "user", "password", "host", "port")
    return make_conninfo(**{key: str(params[key]) for key in keys if params.get(key)})


class Command(BaseCommand):
    help = (
        "Simulate the n8n sync: create leads, move pending leads to syncing and then to synced, error or "
        "conflict, and write one lead_sync_history row per attempt, from several connections at once. "
        "WARNING: it writes to the database it is pointed at (DATABASE_URL); use a demo or test database. "
        "Stops cleanly on Ctrl-C / SIGTERM or after --duration, finishing the attempts in flight. A lost "
        "database connection is opened again with a bounded backoff and the run goes on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=20.0, metavar="WRITES_PER_S",
                            help="statements per second over all connections, before the daily/hourly rhythm "
                                 "(0.6x-1.75x; default 20)")
        parser.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                            help="stop after this many seconds (default 0: until stopped)")
        parser.add_argument("--seed", type=int, default=None, help="seed for every random choice (default: random)")
        parser.add_argument("--stall", choices=STALL_CHOICES, default=None, metavar="DIRECTION",
                            help=f"stop one direction ({', '.join(STALL_CHOICES[:2])}) or all, "
                                 "so the stall alerts fire")
        parser.add_argument("--fail-rate", type=float, default=None, metavar="P",
                            help="fixed share of attempts that fail, 0-1 (e.g. 0.3 makes the failure-rate alert "
                                 "fire); default: a low baseline with occasional error bursts")
        parser.add_argument("--connections", type=int, default=4, metavar="N",
                            help="database connections writing at once, one thread each (default 4)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sim_options = SimulatorOptions(
                rate=options["rate"], duration=options["duration"], seed=options["seed"], stall=options["stall"],
                fail_rate=options["fail_rate"], connections=options["connections"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        simulator = Simulator(conninfo=conninfo_from_settings(), options=sim_options)
        connection.close()  # the simulator has its own connections; this one would only sit idle

        def stop(signum: int, frame: Any) -> None:
            simulator.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        if options["verbosity"] > 0:
            self.stdout.write(
                f"simulate_sync: writing to database {connection.settings_dict.get('NAME')!r} with "
                f"{sim_options.connections} connections at ~{sim_options.rate:g} writes/s"
                + (f" for {sim_options.duration:g} s" if sim_options.duration else " until stopped")
                + (f", {sim_options.stall} stalled" if sim_options.stall else "")
                + (f", fail rate {sim_options.fail_rate:g}" if sim_options.fail_rate is not None else "")
            )
            self.stdout.flush()
        try:
            report = simulator.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if options["verbosity"] > 0:
            self.stdout.write(summary(report))
        if report.workers_died:
            raise CommandError("every writer thread ended on its own; see the log above")


def summary(report: SimulatorReport) -> str:
    """The closing line. benchmarks/soak.py parses it (parse_sync_count): "<n> attempts" is what was
    written for sure and "<n> unanswered" the history inserts that may or may not have landed; keep
    those two phrases, and no other number directly before "attempts" or "unanswered"."""
    attempts = sum(report.attempts.values())
    by_status: dict[str, int] = {}
    for (_type, status), count in report.attempts.items():
        by_status[status] = by_status.get(status, 0) + count
    line = (
        f"simulate_sync: {report.seconds:.1f} s, {report.statements} statements, {report.new_leads} new leads, "
        f"{attempts} attempts ({', '.join(f'{k} {v}' for k, v in sorted(by_status.items())) or 'none'})"
    )
    if report.errors_by_kind:
        line += f"; error kinds: {dict(sorted(report.errors_by_kind.items()))}"
    if report.connections_lost or report.failed_connects:
        line += (
            f"; connections lost {report.connections_lost} times and re-opened "
            f"(failed connection tries: {report.failed_connects}), {report.unanswered} unanswered "
            f"(history inserts whose answer never came: each may or may not be in the table), "
            f"leads possibly left syncing: {report.maybe_syncing}"
        )
    if report.refused:
        line += f"; REFUSED statements: {dict(report.refused)}"
    return line
