"""Block actions `mcp_approve` / `mcp_deny`: a click on the buttons of an MCP tool-call approval
prompt (mcp_approvals.py), and the scheduled job `mcp_approval_expire` for a prompt nobody
answers. Ingress acks the click in milliseconds like any interaction; this handler runs as a job
(Cloud Tasks or the in-process queue), so resuming the answer never sits on the ack path. Only
the asker's click counts; after MCP_APPROVAL_TTL_SECONDS the request has expired. Each of the
three claims the request first (claims.py): exactly one acts, on whichever instance."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from teambot.answer.mcp_approvals import APPROVE_ACTION, DENY_ACTION, EXPIRE_JOB, approval_ids, parse_value, ttl_words
from teambot.core.jobs import Job
from teambot.core.registry import block_action, scheduled_job

if TYPE_CHECKING:
    from teambot.answer.services import Context

CLAIM_KEEP_S = 86_400.0  # a claim outlives any click on its prompt that Slack would still deliver


@block_action(APPROVE_ACTION)
def mcp_approve(ctx: "Context", job: Job) -> None:
    _answer(ctx, job, approve=True)


@block_action(DENY_ACTION)
def mcp_deny(ctx: "Context", job: Job) -> None:
    _answer(ctx, job, approve=False)


@scheduled_job(EXPIRE_JOB)
def mcp_approval_expire(ctx: "Context", job: Job) -> None:
    """Scheduled by mcp_approvals.ask for the prompt's expiry; job.message_ts is the prompt's ts."""
    from teambot.core import logs

    value = _value(job)
    if value is None:
        return
    if not _claimed(ctx, value):  # approved or denied in time: nothing expires (logged, so it shows it ran)
        logs.info("mcp_approval_ignored", reason="answered before expiry", team=job.team, channel=job.channel)
        return
    _conclude(ctx, job, value, "expired")


def _answer(ctx: "Context", job: Job, *, approve: bool, now: float | None = None) -> None:
    from teambot.core import logs

    value = _value(job)
    if value is None:
        return
    asker = value["u"]
    if job.user != asker:  # anyone else's click changes nothing
        logs.info("mcp_approval_ignored", reason="not the asker", team=job.team, channel=job.channel, user=job.user)
        ctx.slack.tell(
            job.channel, job.user, f"Only <@{asker}> can approve or deny this tool call.", job.thread_ts, team=job.team
        )
        return
    if not _claimed(ctx, value):  # a double click, or the expiry came first: already acted on
        logs.info("mcp_approval_ignored", reason="already answered", team=job.team, channel=job.channel)
        return
    expired = (time.time() if now is None else now) > value["x"]
    _conclude(ctx, job, value, "expired" if expired else "approved" if approve else "denied")


def _value(job: Job) -> dict | None:
    """The ids the prompt's buttons (and its expiry job) carry; None, logged, if unreadable."""
    value = parse_value(job.extra.get("value", ""))
    if value is None:
        from teambot.core import logs

        logs.warning("mcp_approval_ignored", reason="bad value", team=job.team, channel=job.channel)
    return value


def _claimed(ctx: "Context", value: dict) -> bool:
    from teambot.answer.claims import claims

    return claims(ctx.settings).claim(f"mcp_approval:{value['r']}:{value['a']}", CLAIM_KEEP_S)


def _conclude(ctx: "Context", job: Job, value: dict, outcome: str) -> None:
    """The prompt (job.message_ts) loses its buttons and says the outcome; the answer resumes
    (approved) or ends politely (denied, expired)."""
    from teambot.answer.pipeline import post_notice, stream_answer
    from teambot.core import logs

    asker, name, server = value["u"], value.get("n") or "the tool", value.get("s") or "?"
    answer_job = Job(
        kind=job.kind,
        team=job.team,
        channel=job.channel,
        user=asker,
        message_ts=value["m"],
        thread_ts=value["t"],
        user_team=value.get("k") or job.user_team,
        extra={"container_file_ids": value["c"]} if isinstance(value.get("c"), list) else {},
    )
    within = ttl_words(ctx.settings.mcp_approval_ttl_s)
    line = {
        "expired": f":hourglass: The request to call *{name}* on *{server}* expired (no answer in {within}).",
        "approved": f":white_check_mark: <@{asker}> approved calling *{name}* on *{server}*.",
        "denied": f":no_entry_sign: <@{asker}> denied calling *{name}* on *{server}*.",
    }[outcome]
    logs.info("mcp_approval", outcome=outcome, team=job.team, channel=job.channel, user=asker, server=server, tool=name)
    ctx.slack.call(
        "chat_update",
        team=job.team,
        channel=job.channel,
        ts=job.message_ts,
        text=line,
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": line}}],
    )
    if outcome == "expired":
        post_notice(
            ctx,
            answer_job,
            f"I didn't call *{name}*: nobody approved it within {within}, so this answer "
            "ends here. Ask again if you still need it.",
        )
        return
    if outcome == "denied":
        post_notice(ctx, answer_job, f"OK, I didn't call *{name}*. This answer ends here; ask again any time.")
        return
    continuation = {
        "previous_response_id": value["r"],
        "input": [{"type": "mcp_approval_response", "approval_request_id": a, "approve": True} for a in approval_ids(value)],
    }
    from teambot.core.prompts import instructions

    # previous_response_id carries the conversation, not the instructions: the system prompt again
    system = [{"role": "system", "content": instructions(ctx.settings, answer_job.channel)}]
    stream_answer(ctx, answer_job, system, continuation=continuation, log_fields={"resumed": "mcp_approval"})
