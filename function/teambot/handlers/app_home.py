"""The App Home tab (`app_home_opened` -> `views.publish`): the user's usage today and this month,
the workspace's, a bar per day; admins (ADMIN_USER_IDS) also see the top users of the month.

Slack sends `app_home_opened` each time a user opens one of the app's tabs, with `tab` "home" or
"messages" (https://api.slack.com/events/app_home_opened); only "home" has a view to publish.
The event has no message ts: its `event_ts` identifies it (dedup key). Publishing runs in the
worker, like every Slack call: the ack path only parses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.ack.payloads import envelope_team, obj, optional_string, slack_ts, string
from teambot.core.jobs import Job
from teambot.core.registry import on_event

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

APP_HOME = "app_home"  # the job kind


def home_from_event(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    if event.get("tab") != "home":
        return None  # the Messages tab: nothing to publish
    user = string(event.get("user"), "event.user")
    return Job(
        kind=APP_HOME,
        team=envelope_team(envelope) or string(event.get("team"), "team_id"),
        channel=optional_string(event.get("channel")) or user,  # the app's DM with the user
        user=user,
        message_ts=slack_ts(event.get("event_ts"), "event.event_ts"),
    )


@on_event("app_home_opened", parse=home_from_event, kind=APP_HOME)
def publish_home(ctx: "Context", job: Job) -> None:
    from teambot.core import logs
    from teambot.usage.home_tab import home_view

    is_admin = job.user in ctx.settings.admin_user_ids
    summary = ctx.usage.summary(job.team, job.user, with_top_users=is_admin)
    ctx.slack.call("views_publish", team=job.team, user_id=job.user, view=home_view(summary, is_admin=is_admin))
    logs.info("home", team=job.team, user=job.user, admin=is_admin, figures=summary is not None)
