"""A native stream's lifetime, and what `message_not_in_streaming_state` means.

Slack ends a chat.startStream stream server-side after about five minutes: chat.appendStream and
chat.stopStream then answer `message_not_in_streaming_state`, the message keeps the text it had,
and only chat.update still reaches it (python-slack-sdk#1859, whose fix, PR #1880, exposes the
stream's ts for exactly that chat.update; slackapi/node-slack-sdk#2702 reports the ~5 minutes
hold even while appends keep coming, other reports describe an idle timeout: both are handled).
The same error answers a write to a stream that someone stopped on another instance. So:

  * the writer never lets a stream get that old: after SLACK_STREAM_MAX_AGE_SECONDS (240 s by
    default, well under Slack's ~300 s) it closes the message (state "continued") and goes on
    in a new stream, like the long-answer rollover;
  * if Slack ends a stream anyway (a stall, a 429 storm, a shorter limit than documented), the
    writer reads the message back and tells the two cases apart: a stop leaves the stop note
    and/or "stopped" metadata (handlers/stop_generation.py), a deletion leaves no message, an
    expiry leaves neither. An expired message is completed with chat.update, nothing is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.slack.marks import STOPPED, STOPPED_NOTE, answer_mark

if TYPE_CHECKING:
    from teambot.slack.client import SlackOps

NOT_STREAMING = "message_not_in_streaming_state"
DEFAULT_MAX_AGE_S = 240.0


class StreamExpired(Exception):
    """Slack ended the stream on its own: the message is still ours, through chat.update."""


def stopped_or_deleted(slack: "SlackOps", channel: str, thread_ts: str, ts: str, *, team: str = "") -> bool:
    """After `message_not_in_streaming_state`: True when the stream was stopped (stop shortcut,
    a redelivery taking over) or deleted, False when Slack only ended it (expiry)."""
    message = next((m for m in slack.thread(channel, thread_ts, team=team) if m.get("ts") == ts), None)
    if message is None:
        return True  # deleted
    if (answer_mark(message) or {}).get("state") == STOPPED:
        return True
    return (message.get("text") or "").rstrip().endswith(STOPPED_NOTE.strip())


def stream_cut(text: str, shown: int) -> int:
    """Where to end a stream that must end now (too old, or expired): at the last line break of
    the text not sent yet, else after everything; never before what Slack already shows."""
    unsent = text[shown:]
    for sep in ("\n\n", "\n"):
        if (at := unsent.rfind(sep)) >= 0:
            return shown + at + len(sep)
    return len(text)
