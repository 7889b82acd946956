"""MCP tool calls that need a person's approval (Responses API `mcp_approval_request` items).

When an answer's response ends with approval requests, `ask(ctx, job, stream)` posts, in the
thread, the tool's name and arguments with Approve / Deny buttons (block action ids
`mcp_approve` / `mcp_deny`, handlers/mcp_approval.py). Only the asker may answer: anyone
else's click changes nothing (an ephemeral note says who can). A request expires after
`APPROVAL_TTL_S` (10 minutes): a click after that ends the answer politely instead of resuming.
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
APPROVAL_TTL_S = 600.0
APPROVAL_EVENT = "teambot_mcp_approval"  # message metadata event_type of an approval prompt


def approval_note(approvals: list[dict]) -> str:
    """The line that ends an answer waiting for approval."""
    names = ", ".join(f"`{a.get('name') or 'a tool'}`" for a in approvals)
    return f"\n\n_Waiting for approval to call {names} (see below)._"


def button_value(response_id: str, approval: dict, job, now: float) -> str:
    return json.dumps({"r": response_id, "a": approval["id"], "u": job.user, "x": int(now + APPROVAL_TTL_S),
                       "n": approval.get("name", "")[:100], "s": approval.get("server_label", "")[:64],
                       "m": job.message_ts, "t": job.reply_thread_ts, "k": job.user_team}, separators=(",", ":"))


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


def prompt_blocks(approval: dict, value: str, asker: str) -> list[dict]:
    from .responses_stream import pretty_arguments

    args = pretty_arguments(approval.get("arguments") or "").replace("```", "` ` `")
    name, server = approval.get("name") or "a tool", approval.get("server_label") or "?"
    return [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"<@{asker}>, may I call *{name}* on *{server}* with these arguments?\n```{args}```"}},
        {"type": "actions", "block_id": "mcp_approval", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Deny"}},
        ]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Only <@{asker}> can answer. This request expires in 10 minutes."}]},
    ]


def ask(ctx, job, stream, *, now: float | None = None) -> int:
    """Post one approval prompt per pending request; returns how many were posted."""
    approvals = list(getattr(stream, "approvals", None) or ())
    response_id = getattr(stream, "response_id", None)
    if not approvals or not response_id:
        return 0
    now = time.time() if now is None else now
    for approval in approvals:
        value = button_value(response_id, approval, job, now)
        name, server = approval.get("name") or "a tool", approval.get("server_label") or "?"
        ctx.slack.call(
            "chat_postMessage", team=job.team, channel=job.channel, thread_ts=job.reply_thread_ts,
            text=f"May I call {name} on {server}?", blocks=prompt_blocks(approval, value, job.user),
            metadata={"event_type": APPROVAL_EVENT, "event_payload": {"approval_request_id": approval["id"]}},
        )
    return len(approvals)
