"""How the bot marks its own messages in Slack, in one place.

Every answer carries message metadata `{event_type: ANSWER_EVENT, event_payload: {reply_to, state}}`,
so any instance can tell from Slack alone which question a message answers and whether it is
still being written (stop across instances, task redelivery). Notices (errors, refusals) carry
NOTICE_EVENT: shown to people, never fed back to the model. Metadata is readable by anyone in
the workspace: ids and states only, never text.
"""

from __future__ import annotations

ANSWER_EVENT = "teambot_answer"
NOTICE_EVENT = "teambot_notice"
# The AI panel's thread context (which channel the user is looking at), kept in the metadata of
# the bot's first message in the thread: the event type bolt-python's
# DefaultAssistantThreadContextStore uses (slack_bolt/context/assistant/thread_context_store/
# default_store.py), so a Bolt app reading the same thread agrees. Payload: channel_id, team_id,
# enterprise_id -- ids only.
CONTEXT_EVENT = "assistant_thread_context"

# event_payload.state of an answer message
STREAMING = "streaming"  # being written (update mode carries it from the placeholder on)
DONE = "done"
STOPPED = "stopped"
ERROR = "error"
CONTINUED = "continued"  # a full message; the answer goes on in the next one

CURSOR = " ▍"  # the tail of an update-mode message that is still being written
PLACEHOLDER = "_Thinking…_"
STOPPED_NOTE = "\n\n_⏹ Stopped._"
EMPTY_NOTE = "_The model returned an empty answer. Please rephrase and try again._"
INTERRUPTED_NOTE = "Something went wrong while writing this answer. Please try again."


def answer_metadata(reply_to: str, state: str, kind: str = "") -> dict:
    """`kind`: the job kind that wrote the answer, when not a plain question's ("answer"): a summary
    or a translation of a message is a different answer to the same message ts."""
    payload = {"reply_to": reply_to, "state": state, **({"kind": kind} if kind and kind != "answer" else {})}
    return {"event_type": ANSWER_EVENT, "event_payload": payload}


def answer_kind(mark: dict) -> str:
    return mark.get("kind") or "answer"


def notice_metadata(reply_to: str) -> dict:
    return {"event_type": NOTICE_EVENT, "event_payload": {"reply_to": reply_to}}


def is_own(message: dict, bot_user_id: str, bot_id: str) -> bool:
    return bool((bot_user_id and message.get("user") == bot_user_id) or (bot_id and message.get("bot_id") == bot_id))


def answer_mark(message: dict) -> dict | None:
    """The answer payload {reply_to, state} of a message, or None when it is not an answer."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != ANSWER_EVENT:
        return None
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else {}


def is_notice(message: dict) -> bool:
    return (message.get("metadata") or {}).get("event_type") in (NOTICE_EVENT, CONTEXT_EVENT)


def context_metadata(context: dict) -> dict:
    ids = {k: context.get(k) for k in ("channel_id", "team_id", "enterprise_id") if isinstance(context.get(k), str)}
    return {"event_type": CONTEXT_EVENT, "event_payload": ids}


def strip_cursor(text: str) -> str:
    text = text.rstrip()
    return text[: -len(CURSOR.strip())].rstrip() if text.endswith(CURSOR.strip()) else text
