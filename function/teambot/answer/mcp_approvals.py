"""MCP tool calls that need a person's approval (Responses API `mcp_approval_request` items).

When an answer's response ends with approval requests, `ask(ctx, job, stream)` posts, in the
thread, the tool's name and arguments with Approve / Deny buttons (block action ids
`mcp_approve` / `mcp_deny`, handlers/mcp_approval.py). Only the asker may answer: anyone
else's click changes nothing (an ephemeral note says who can). A request expires after
MCP_APPROVAL_TTL_SECONDS (10 minutes): posting the prompt schedules an `mcp_approval_expire` job
for then, which ends the answer politely if nobody answered; a click after that changes nothing.
Approve, deny and expire each claim the request first (claims.py), so exactly one of them acts.
A click by the asker resumes the same response chain: `previous_response_id` + an
`mcp_approval_response` input item (approve true); a denial ends the answer politely without
calling the model again. The button value carries ids only (response id, approval request id,
asker, expiry, tool and server name), never the arguments or any secret.
Standard library only at import (it is imported by the handler module, on the ack path).
"""

from __future__ import annotations

import json
import time

APPROVE_ACTION, DENY_ACTION = "mcp_approve", "mcp_deny"
EXPIRE_JOB = "mcp_approval_expire"  # job kind of the scheduled expiry (handlers/mcp_approval.py)
APPROVAL_EVENT = "teambot_mcp_approval"  # message metadata event_type of an approval prompt


def approval_note(approvals: list[dict]) -> str:
    """The line that ends an answer waiting for approval."""
    names = ", ".join(f"`{a.get('name') or 'a tool'}`" for a in approvals)
    return f"\n\n_Waiting for approval to call {names} (see below)._"


def ttl_words(ttl_s: float) -> str:
    """600 -> "10 minutes", 60 -> "1 minute", 90 -> "90 seconds"."""
    seconds = max(1, round(ttl_s))
    if seconds % 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"


def button_value(response_id: str, approvals: list[dict], job, now: float, ttl_s: float) -> str:
    """The ids one click needs: every approval request of the response ("a", comma-separated: one
    click answers them all, so the chain resumes once), never the arguments."""
    servers = list(dict.fromkeys(a.get("server_label", "") for a in approvals))
    return json.dumps(
        {
            "r": response_id,
            "a": ",".join(a["id"] for a in approvals),
            "u": job.user,
            "x": int(now + ttl_s),
            "n": ", ".join(a.get("name", "") for a in approvals)[:100],
            "s": ", ".join(servers)[:64],
            "m": job.message_ts,
            "t": job.reply_thread_ts,
            "k": job.user_team,
            # the thread's files already in the code interpreter's container: the resumed
            # answer's tools must match the first request's (code_files.EXTRA_KEY)
            **({"c": list(job.extra["container_file_ids"])} if job.extra.get("container_file_ids") else {}),
        },
        separators=(",", ":"),
    )


def parse_value(raw: str) -> dict | None:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value.get(k) for k in ("r", "a", "u", "m", "t")):
        return None
    if not isinstance(value.get("x"), int):
        return None
    return value


PROMPT_ARGS_CHARS = 2400  # a section's text may hold 3,000 characters (Block Kit section reference)


def prompt_blocks(approvals: list[dict], value: str, asker: str, ttl_s: float) -> list[dict]:
    from teambot.answer.responses_stream import pretty_arguments

    each = PROMPT_ARGS_CHARS // max(1, len(approvals))
    calls = []
    for approval in approvals:
        args = pretty_arguments(approval.get("arguments") or "").replace("```", "` ` `")
        args = args if len(args) <= each else args[: each - 1] + "…"
        calls.append((approval.get("name") or "a tool", approval.get("server_label") or "?", args))
    if len(calls) == 1:
        ((name, server, args),) = calls
        text = f"<@{asker}>, may I call *{name}* on *{server}* with these arguments?\n```{args}```"
    else:
        text = f"<@{asker}>, may I make these {len(calls)} tool calls?" + "".join(
            f"\n*{name}* on *{server}*:\n```{args}```" for name, server, args in calls
        )
    approve = "Approve" if len(calls) == 1 else f"Approve all {len(calls)}"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "block_id": "mcp_approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "value": value,
                    "text": {"type": "plain_text", "text": approve},
                },
                {
                    "type": "button",
                    "action_id": DENY_ACTION,
                    "style": "danger",
                    "value": value,
                    "text": {"type": "plain_text", "text": "Deny"},
                },
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Only <@{asker}> can answer. This request expires in {ttl_words(ttl_s)}."}],
        },
    ]


def approval_ids(value: dict) -> list[str]:
    return [a for a in value["a"].split(",") if a]


def ask(ctx, job, stream, *, now: float | None = None) -> int:
    """Post the approval prompt for the response's pending requests, with its expiry scheduled;
    returns how many requests it asks about."""
    from teambot.core.errors import HandoffFailed
    from teambot.core.jobs import Job

    approvals = list(getattr(stream, "approvals", None) or ())
    response_id = getattr(stream, "response_id", None)
    if not approvals or not response_id:
        return 0
    now = time.time() if now is None else now
    ttl_s = ctx.settings.mcp_approval_ttl_s
    # One prompt for every request of the response: the chain resumes once, with all the answers
    value = button_value(response_id, approvals, job, now, ttl_s)
    names = ", ".join(dict.fromkeys(a.get("name") or "a tool" for a in approvals))
    posted = ctx.slack.call(
        "chat_postMessage",
        team=job.team,
        channel=job.channel,
        thread_ts=job.reply_thread_ts,
        text=f"May I call {names}?",
        blocks=prompt_blocks(approvals, value, job.user, ttl_s),
        metadata={"event_type": APPROVAL_EVENT, "event_payload": {"approval_request_ids": [a["id"] for a in approvals]}},
    )
    # message_ts = the prompt's own ts: the expiry edits it, and it makes the job's task name unique
    expiry = Job(
        kind=EXPIRE_JOB,
        team=job.team,
        channel=job.channel,
        user=job.user,
        message_ts=posted["ts"],
        thread_ts=job.reply_thread_ts,
        user_team=job.user_team,
        extra={"value": value},
    )
    try:
        ctx.schedule(expiry, ttl_s)
    except HandoffFailed:  # logged by the hand-off; a late click still finds the request expired
        pass
    return len(approvals)
