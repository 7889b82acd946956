"""Block actions `mcp_approve` / `mcp_deny`: a click on the buttons of an MCP tool-call approval
prompt (mcp_approvals.py). Ingress acks the click in milliseconds like any interaction; this
handler runs as a job (Cloud Tasks or the in-process queue), so resuming the answer never sits
on the ack path. Only the asker's click counts; after 10 minutes the request has expired."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..jobs import Job
from ..mcp_approvals import APPROVE_ACTION, DENY_ACTION, parse_value
from ..registry import block_action

if TYPE_CHECKING:
    from ..context import Context

_answered: set[str] = set()  # approval request ids this process already acted on (double clicks)
_answered_lock = threading.Lock()


@block_action(APPROVE_ACTION)
def mcp_approve(ctx: "Context", job: Job) -> None:
    _answer(ctx, job, approve=True)


@block_action(DENY_ACTION)
def mcp_deny(ctx: "Context", job: Job) -> None:
    _answer(ctx, job, approve=False)


def _answer(ctx: "Context", job: Job, *, approve: bool, now: float | None = None) -> None:
    from .. import logs
    from ..answer import post_notice, stream_answer

    value = parse_value(job.extra.get("value", ""))
    if value is None:
        logs.warning("mcp_approval_ignored", reason="bad value", team=job.team, channel=job.channel)
        return
    asker, name, server = value["u"], value.get("n") or "the tool", value.get("s") or "?"
    if job.user != asker:  # anyone else's click changes nothing
        logs.info("mcp_approval_ignored", reason="not the asker", team=job.team, channel=job.channel, user=job.user)
        ctx.slack.tell(job.channel, job.user, f"Only <@{asker}> can approve or deny this tool call.",
                       job.thread_ts, team=job.team)
        return
    with _answered_lock:
        if value["a"] in _answered:
            return
        _answered.add(value["a"])
    answer_job = Job(kind=job.kind, team=job.team, channel=job.channel, user=asker, message_ts=value["m"],
                     thread_ts=value["t"], user_team=value.get("k") or job.user_team)
    expired = (time.time() if now is None else now) > value["x"]
    if expired:
        outcome, line = "expired", f":hourglass: The request to call *{name}* on *{server}* expired (no answer in 10 minutes)."
    elif approve:
        outcome, line = "approved", f":white_check_mark: <@{asker}> approved calling *{name}* on *{server}*."
    else:
        outcome, line = "denied", f":no_entry_sign: <@{asker}> denied calling *{name}* on *{server}*."
    logs.info("mcp_approval", outcome=outcome, team=job.team, channel=job.channel, user=asker, server=server, tool=name)
    ctx.slack.call("chat_update", team=job.team, channel=job.channel, ts=job.message_ts, text=line,
                   blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": line}}])
    if expired:
        post_notice(ctx, answer_job, f"I didn't call *{name}*: nobody approved it within 10 minutes, so this answer "
                                     "ends here. Ask again if you still need it.")
        return
    if not approve:
        post_notice(ctx, answer_job, f"OK, I didn't call *{name}*. This answer ends here; ask again any time.")
        return
    continuation = {"previous_response_id": value["r"],
                    "input": [{"type": "mcp_approval_response", "approval_request_id": value["a"], "approve": True}]}
    from ..prompts import instructions

    # previous_response_id carries the conversation, not the instructions: the system prompt again
    system = [{"role": "system", "content": instructions(ctx.settings, answer_job.channel)}]
    stream_answer(ctx, answer_job, system, continuation=continuation, log_fields={"resumed": "mcp_approval"})
