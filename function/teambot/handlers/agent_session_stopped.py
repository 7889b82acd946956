"""`agent_session_stopped`: the user clicked the native stop button of an agent session
(docs.slack.dev/reference/events/agent_session_stopped: channel, thread_ts,
streaming_message_ts[], user; team_id on the envelope). Slack stops the listed streams itself
but does not change the session; the app must:
  1. stop its work: an answer being written in this process is cancelled (its model stream is
     closed at once, the same path as the "Stop generating" shortcut); one written on another
     instance is marked stopped in Slack (handlers/stop_generation.py stop_message), so that
     writer's next write fails and its stream_lifetime read-back sees a stop, not an expiry;
  2. move the session out of `processing` (agents.sessions.setStatus active).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.ack.payloads import envelope_team, obj, optional_string, slack_ts, string
from teambot.core.jobs import Job
from teambot.core.registry import on_event

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

AGENT_SESSION_STOPPED = "agent_session_stopped"


def session_stopped_job(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    thread_ts = slack_ts(event.get("thread_ts"), "event.thread_ts")
    streams = event.get("streaming_message_ts") if isinstance(event.get("streaming_message_ts"), list) else []
    return Job(
        kind=AGENT_SESSION_STOPPED,
        team=envelope_team(envelope) or string(event.get("team"), "team_id"),
        channel=string(event.get("channel"), "event.channel"),
        user=string(event.get("user"), "event.user"),
        message_ts=thread_ts,
        thread_ts=thread_ts,
        extra={"streams": [s for s in streams if isinstance(s, str)]},
        nonce=optional_string(event.get("event_ts")) or optional_string(envelope.get("event_id")),
    )


@on_event(AGENT_SESSION_STOPPED, parse=session_stopped_job, kind=AGENT_SESSION_STOPPED)
def agent_session_stopped(ctx: "Context", job: Job) -> None:
    from teambot.core import logs
    from teambot.handlers.stop_generation import stop_message
    from teambot.slack import agent_session

    local = ctx.generations.in_thread(job.channel, job.thread_ts)
    # cancel() closes the model stream now (the answer loop writes the stop); an answer whose
    # model had finished is complete and is left alone.
    cancelled = sum(generation.cancel() for generation in local)
    elsewhere = 0
    try:
        if not local:
            for ts in job.extra.get("streams") or []:
                elsewhere += stop_message(ctx, job, ts) != "already_done"
    finally:  # out of "processing" even when a stop failed (the failure is shown and logged)
        agent_session.set_status(ctx, job, agent_session.ACTIVE)
    logs.info(
        "session_stopped",
        local=cancelled,
        elsewhere=elsewhere,
        streams=len(job.extra.get("streams") or []),
        team=job.team,
        channel=job.channel,
        user=job.user,
    )
