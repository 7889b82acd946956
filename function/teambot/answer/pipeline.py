"""The answer pipeline, shared by every handler that writes a model answer into a thread:
model stream -> Slack reply, and one usage log line.

The user-visible promise: a correct answer appears in the thread, streamed, exactly once; a stop
really stops the model; every failure ends with a clear message in the thread.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from slack_sdk.errors import SlackApiError

from teambot.answer.generations import Generation
from teambot.answer.services import Context
from teambot.core import logs
from teambot.core.errors import ModelError
from teambot.core.jobs import Job
from teambot.core.steps import COMPLETE as STEP_DONE
from teambot.core.steps import ERROR as STEP_FAILED
from teambot.core.steps import Step
from teambot.slack import agent_session
from teambot.slack.blocks import feedback_block
from teambot.slack.client import failure_name, slack_error
from teambot.slack.marks import EMPTY_NOTE, ERROR, INTERRUPTED_NOTE, STOPPED, STOPPED_NOTE, notice_metadata
from teambot.slack.reply import ReplyGone, SlackReply
from teambot.slack.text import estimate_tokens

OVER_BUDGET = "over_budget"  # outcome of a question refused by a daily token budget
USAGE_WAIT_S = 3.0  # the ledger's store calls time out after 2 s; this bounds the wait for them


def post_notice(ctx: Context, job: Job, text: str) -> None:
    """A short message in the thread that people see and the model never does."""
    ctx.slack.call(
        "chat_postMessage",
        team=job.team,
        channel=job.channel,
        thread_ts=job.reply_thread_ts,
        markdown_text=text,
        metadata=notice_metadata(job.message_ts),
    )


def stream_answer(
    ctx: Context,
    job: Job,
    messages: list[dict],
    *,
    log_fields: dict | None = None,
    notes: list[str] | tuple[str, ...] = (),
    budget: Future | None = None,
    continuation: dict | None = None,
    title: str = "",
    steps: list[Step] | tuple[Step, ...] = (),
) -> str:
    """Stream the model's answer to `messages` into `job`'s thread, with the channel profile's
    model options. `notes` (e.g. files skipped) end the answer, one short line each, in italics.
    Returns the outcome.

    First the daily token budgets (`budget`: a check the caller started early with
    `ctx.usage.check_soon`, else checked here): over budget, a short notice and no model call.
    After the answer's last write, its tokens go to the usage ledger.

    `continuation` ({previous_response_id, input}: Responses API) resumes a response chain, e.g.
    after an MCP tool call was approved (mcp_approvals.py); an answer that ends waiting for an
    approval posts the Approve / Deny prompt after its last write.

    The answer runs inside its thread's agent session (agent_session.py): `processing` (created
    with `title`, if given and new) before the first visible text, `active` when it ends, by
    chat.stopStream's session_status or setStatus. `steps` (work done before the model call:
    reading the thread, each file) go to the reply as thinking steps first."""
    started = time.monotonic()
    options = ctx.settings.model_options(job.channel)
    model = options.get("model", ctx.settings.openai_model)
    usage = {"team": job.team, "channel": job.channel, "user": job.user, "model": model, "kind": job.kind, **(log_fields or {})}
    footer = "".join(f"\n_{line}_" for line in notes)
    footer = "\n" + footer if footer else ""
    pending = budget or ctx.usage.check_soon(job.team, job.user)
    refusal = ctx.usage.outcome(pending, USAGE_WAIT_S, team=job.team, user=job.user)
    if refusal:
        post_notice(ctx, job, refusal)
        logs.info("answer", outcome=OVER_BUDGET, **usage)
        return OVER_BUDGET
    generation = Generation(job.message_ts)
    ctx.generations.register_thread(job.channel, job.reply_thread_ts, generation)  # the native stop button
    reply = SlackReply(
        ctx.slack,
        job,
        interval_s=ctx.settings.update_interval_s,
        refusals=ctx.refusals,
        on_message=lambda ts: ctx.generations.register(ts, generation),
        final_blocks=[feedback_block(model)],  # every finished answer: 👍 / 👎
        stream_max_age_s=ctx.settings.stream_max_age_s,
    )
    stream, first_token, outcome = None, None, "done"
    session = agent_session.set_status(ctx, job, agent_session.PROCESSING, title=title)
    try:
        for step in steps:
            reply.step(step)
        reply.begin()
        resume = {"continuation": continuation} if continuation else {}
        stream = ctx.model.stream(messages, job=job, **resume, **options)
        generation.attach(stream)
        for item in stream:  # text deltas, and the thinking steps of hosted tools (steps.Step)
            if isinstance(item, Step):
                reply.step(item)
                continue
            first_token = first_token or time.monotonic()
            reply.add(item)
            if generation.cancelled.is_set():
                break
        others = getattr(getattr(stream, "parser", None), "citations", None)
        if others is not None and others.others and not generation.cancelled.is_set():
            from teambot.answer.code_files import deliver_outputs  # files the code interpreter produced -> the thread

            deliver_outputs(ctx, job, reply, others.others)
        if not generation.end():  # stopped while the model wrote (or its files were delivered)
            outcome = "stopped"
            reply.settle_steps(STEP_FAILED, "stopped")
            reply.finish(STOPPED_NOTE, STOPPED, session_status=agent_session.ACTIVE)
        elif getattr(stream, "approvals", None):  # an MCP tool call waits for the asker
            from teambot.answer.mcp_approvals import approval_note, ask

            reply.settle_steps(STEP_DONE, "approval asked below")  # its outcome: on the prompt, then the resumed answer
            reply.finish(approval_note(stream.approvals) + footer, session_status=agent_session.ACTIVE)
            ask(ctx, job, stream)
            outcome = "awaiting_approval"
        else:
            reply.settle_steps(STEP_DONE)
            reply.finish(footer if reply.text.strip() else EMPTY_NOTE + footer, session_status=agent_session.ACTIVE)
            if (
                session
                and title
                and (better := agent_session.better_title(reply.text))
                and better != agent_session.session_title(title)
            ):
                agent_session.rename(ctx, job, better)
    except ReplyGone:
        outcome = "stopped_in_slack"  # stopped on another instance, or deleted: write nothing more
    except ModelError as failure:
        outcome = "stopped" if generation.cancelled.is_set() else failure.kind
        note = STOPPED_NOTE if outcome == "stopped" else f"\n\n:warning: {failure.user_message}"
        _finish_quietly(ctx, job, reply, note, STOPPED if outcome == "stopped" else ERROR)
    except SlackApiError as exc:
        outcome = f"slack_{slack_error(exc)}"
        _notice_quietly(ctx, job, f":warning: I couldn't finish writing this answer in Slack ({slack_error(exc)}).")
    except Exception as exc:  # a Slack timeout, a bug: still end visibly, never leave a spinner
        outcome = f"error_{type(exc).__name__}"
        error_id = logs.exception("answer_failed", exc, kind=job.kind, channel=job.channel)
        _finish_quietly(ctx, job, reply, f"\n\n:warning: {INTERRUPTED_NOTE} (reference: {error_id})", ERROR)
    finally:
        if stream is not None:
            stream.close()
        if session and not reply.session_status_sent:  # out of processing, whatever happened
            agent_session.set_status(ctx, job, agent_session.ACTIVE)
        reply.release()
        ctx.generations.forget(generation)
        logs.info(
            "answer",
            outcome=outcome,
            mode=reply.mode,
            messages=len(reply.message_ts),
            delivery=ctx.delivery,
            ttft_ms=round((first_token - started) * 1000) if first_token else None,
            duration_ms=round((time.monotonic() - started) * 1000),
            prompt_tokens=(stream.usage or {}).get("prompt_tokens") if stream else None,
            completion_tokens=(stream.usage or {}).get("completion_tokens") if stream else None,
            tool_calls=dict(getattr(stream, "tool_calls", None) or {}) or None,
            **usage,
        )
        _record_usage(ctx, job, model, stream, first_token is not None, messages, reply.text)
    return outcome


def _record_usage(ctx: Context, job: Job, model: str, stream, generated: bool, messages: list[dict], text: str) -> None:
    """Count the answer's tokens: the model's own figures, or, for an answer stopped or cut before
    the model's final usage chunk, an estimate (the prompt was billed once the model started
    writing, and so was what it wrote). Waits, bounded, so the write happens while the task
    request is still open (Cloud Run only guarantees CPU then); never raises."""
    try:
        reported = (stream.usage or {}) if stream is not None else {}
        prompt, completion = reported.get("prompt_tokens"), reported.get("completion_tokens")
        if not reported and generated:
            prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
            completion = estimate_tokens(text)
        calls = sum((getattr(stream, "tool_calls", None) or {}).values()) if stream is not None else 0
        counted = {"tool_calls": calls} if calls else {}
        recorded = ctx.usage.record(job.team, job.user, model, prompt, completion, **counted)
        if recorded is not None:
            ctx.usage.outcome(recorded, USAGE_WAIT_S, team=job.team, user=job.user)
    except Exception as exc:  # counting must never turn a delivered answer into a failed job
        logs.exception("usage_record_failed", exc, team=job.team, user=job.user)


def _finish_quietly(ctx: Context, job: Job, reply: SlackReply, note: str, state: str) -> None:
    """End the answer with `note`; if the answer itself can't be written, post the note alone."""
    try:
        reply.settle_steps(STEP_FAILED, "stopped" if state == STOPPED else "interrupted")
        reply.finish(note, state)
    except ReplyGone:
        pass
    except Exception:
        _notice_quietly(ctx, job, note.strip())


def _notice_quietly(ctx: Context, job: Job, text: str) -> None:
    try:
        post_notice(ctx, job, text)
    except Exception as exc:  # Slack itself is failing: the log is all that is left
        logs.error("notice_failed", error=failure_name(exc), channel=job.channel)
