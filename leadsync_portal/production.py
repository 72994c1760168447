"""What `./portal serve` checks before it starts anything: a real secret key and explicit host names.

The development run generates a secret key and serves localhost; a production run that silently
did the same would sign sessions with a key kept next to the code and answer any Host header
someone points at it. So `serve` refuses, and says what to set.

    python -m leadsync_portal.production check    # exit 1 with the reasons on stderr
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# Django's own deploy check (security.W009) calls a key weak below these.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5

HOW_TO_MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def problems(environ: Mapping[str, str]) -> list[str]:
    """Every reason the environment is not fit for a production run (empty: fit)."""
    found: list[str] = []
    key = environ.get("SECRET_KEY", "")
    if not key:
        found.append(
            "SECRET_KEY is not set. Generate one with\n"
            f"      {HOW_TO_MAKE_A_KEY}\n"
            "  and put it in the service's environment (e.g. /etc/leadsync/portal.env); keep it out of the repository."
        )
    elif (
        len(key) < MIN_SECRET_KEY_LENGTH
        or len(set(key)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS
        or key.startswith("django-insecure-")
    ):
        found.append(
            f"SECRET_KEY is too weak ({len(key)} characters, {len(set(key))} different): use at least "
            f"{MIN_SECRET_KEY_LENGTH} random characters, e.g. from\n      {HOW_TO_MAKE_A_KEY}"
        )
    hosts = [h.strip() for h in environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        found.append(
            "ALLOWED_HOSTS is not set. List the host names people and probes use to reach the portal, "
            "comma-separated, e.g. ALLOWED_HOSTS=portal.example.com,127.0.0.1"
        )
    elif "*" in hosts:
        found.append("ALLOWED_HOSTS contains '*': list the portal's real host names instead")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print(__doc__, file=sys.stderr)
        return 2
    found = problems(os.environ)
    for problem in found:
        print(f"[portal] refusing to serve: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
