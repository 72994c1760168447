"""Alert text by format: each transport escapes, where the text lands, what its format interprets.

Alert messages carry text the sync wrote (lead names, error messages) and operators typed (rule
names). messages.render() builds plain text; the transports' payload builders pass it through the
function for their format, once:
  - Slack mrkdwn: `&`, `<` and `>` are the only characters Slack parses for links and mentions
    (`<!channel>`, `<https://x|label>`); escaped as Slack documents, they show as typed.
  - Telegram: sent with no parse_mode, so Telegram interprets nothing (no function needed).
  - E-mail: a subject is a header, and a CR or LF would end it (header injection, or Django's
    BadHeaderError for the whole delivery); line breaks become spaces.
"""
from __future__ import annotations

import re

_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]+")


def slack_text(text: str) -> str:
    """`text` for a Slack mrkdwn field: no mention, link or entity survives."""
    return text.translate(_SLACK)


def header_text(text: str) -> str:
    """`text` for a one-line mail header: every run of line breaks becomes one space."""
    return _LINE_BREAKS.sub(" ", text).strip()
