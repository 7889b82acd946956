"""Pure text helpers: mention stripping, token estimates, splitting long answers."""

from __future__ import annotations

import re

# Slack's markdown_text limit is 12,000 characters; keep room for the stop / error suffixes.
MESSAGE_LIMIT = 11_000
CHARS_PER_TOKEN = 4  # a rough, conservative estimate; we never need the exact count


def strip_mention(text: str, bot_user_id: str) -> str:
    if not bot_user_id:
        return text.strip()
    return re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", "", text).strip()


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 4


def split_point(text: str, limit: int) -> int:
    """Where to cut `text` (longer than `limit`): the last paragraph, line or word break that
    keeps the head within the limit, so nothing is cut mid-word when it can be helped."""
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        cut = window.rfind(sep)
        if cut > limit // 2:
            return cut + len(sep)
    return limit


def inside_fence(text: str) -> bool:
    """True when `text` ends inside a ``` code block (a split there must close and reopen it)."""
    return text.count("```") % 2 == 1


FENCE_CLOSE, FENCE_OPEN = "\n```", "```\n"


def next_cut(body: str, prefix: str, limit: int) -> tuple[int, str]:
    """Where a message holding `prefix + body` must end (an index into body) to stay within
    `limit` with a closing fence, and the prefix the next message opens with."""
    cut = split_point(body, limit - len(prefix) - len(FENCE_CLOSE))
    return cut, FENCE_OPEN if inside_fence(prefix + body[:cut]) else ""
