"""The agent messaging experience (features.agent_view; docs.slack.dev/ai/migrating-to-agent-messaging).

* A user opening the bot's DM arrives as `app_home_opened` with tab "messages" (it replaces
  assistant_thread_started): the suggested prompts are set every time, with
  assistant.threads.setSuggestedPrompts *without* thread_ts (with one, an agent app's call
  fails silently), and the user is greeted at most once: only when the DM's top-level history
  holds no message of ours yet (conversations.history), never on every open.
* `app_context_changed` {context: {entities: [{type: "slack#/types/channel_id", value,
  team_id}]}} (docs.slack.dev/reference/events/app_context_changed) replaces
  assistant_thread_context_changed: the channel the user is looking at, kept per user in this
  process (Services.views) for the next DM answer's channel note (assistant_thread.channel_note).
  Limit: another instance does not see it (README, agent surface).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.ack.payloads import envelope_team, obj, optional_string, slack_ts, string
from teambot.core.jobs import Job
from teambot.core.registry import on_event

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

MESSAGES_TAB = "messages_tab"
CONTEXT_CHANGED = "app_context_changed"
CHANNEL_ENTITY = "slack#/types/channel_id"
GREETING = "Hi! Ask me anything, or pick one of the suggestions below."
PROMPTS_TITLE = "Try one of these:"


def messages_tab_job(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    if event.get("tab") != "messages":
        return None  # the Home tab: handlers/app_home.py
    user = string(event.get("user"), "event.user")
    return Job(
        kind=MESSAGES_TAB,
        team=envelope_team(envelope) or string(event.get("team"), "team_id"),
        channel=string(event.get("channel"), "event.channel"),
        user=user,
        message_ts=slack_ts(event.get("event_ts"), "event.event_ts"),
        channel_type="im",
    )


@on_event("app_home_opened", parse=messages_tab_job, kind=MESSAGES_TAB)
def messages_tab_opened(ctx: "Context", job: Job) -> None:
    from slack_sdk.errors import SlackApiError

    from teambot.core import logs
    from teambot.core.access import allowed
    from teambot.slack.client import slack_error
    from teambot.slack.marks import is_own, notice_metadata

    fields = {"team": job.team, "channel": job.channel, "user": job.user}
    if not allowed(ctx.settings, job):
        logs.info("messages_tab", outcome="not_allowed", **fields)
        return
    identity = ctx.slack.identity()
    history = ctx.slack.call("conversations_history", team=job.team, channel=job.channel, limit=100).get("messages") or []
    greeted = any(is_own(m, *identity) for m in history)
    if not greeted:
        ctx.slack.call("chat_postMessage", team=job.team, channel=job.channel, text=GREETING, metadata=notice_metadata(""))
    try:
        ctx.slack.call(
            "assistant_threads_setSuggestedPrompts",
            team=job.team,
            channel_id=job.channel,
            title=PROMPTS_TITLE,
            prompts=[dict(p) for p in ctx.settings.suggested_prompts],
        )
        outcome = "prompts_set"
    except SlackApiError as exc:
        outcome = f"prompts_{slack_error(exc)}"
    logs.info("messages_tab", outcome=outcome, greeted=not greeted, **fields)


def context_changed_job(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    user = optional_string(event.get("user"))
    if not user:
        return None  # nobody to remember it for
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    entities = context.get("entities") if isinstance(context.get("entities"), list) else []
    channel = next(
        (e for e in entities if isinstance(e, dict) and e.get("type") == CHANNEL_ENTITY and isinstance(e.get("value"), str)), None
    )
    team = envelope_team(envelope) or string(event.get("team"), "team_id")
    view = {"channel_id": channel["value"], "team_id": str(channel.get("team_id") or team)} if channel else {}
    event_ts = slack_ts(event.get("event_ts"), "event.event_ts")
    return Job(
        kind=CONTEXT_CHANGED,
        team=team,
        channel=optional_string(event.get("channel")) or user,
        user=user,
        message_ts=event_ts,
        extra={"context": view},
    )


@on_event(CONTEXT_CHANGED, parse=context_changed_job, kind=CONTEXT_CHANGED)
def app_context_changed(ctx: "Context", job: Job) -> None:
    from teambot.core import logs

    ctx.services.views[(job.team, job.user)] = dict(job.extra.get("context") or {})
    logs.info(
        "app_context",
        team=job.team,
        user=job.user,
        context_channel=optional_string((job.extra.get("context") or {}).get("channel_id")),
    )
