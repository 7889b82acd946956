"""Guard rails: which channels and users the bot answers (ALLOWED_CHANNEL_IDS, ALLOWED_USER_IDS).
Teams are filtered earlier, at ingress (ALLOWED_TEAM_IDS): other teams get nothing at all."""

from __future__ import annotations

from .env import Settings
from .jobs import Job

NOT_ALLOWED = "Sorry, I'm not enabled for you in this conversation. Ask a workspace admin if you need access."


def allowed(settings: Settings, job: Job) -> bool:
    channel_ok = (
        not settings.allowed_channel_ids
        or job.channel in settings.allowed_channel_ids
        or (job.channel_type == "im" and "im" in settings.allowed_channel_ids)
    )
    user_ok = not settings.allowed_user_ids or job.user in settings.allowed_user_ids
    return channel_ok and user_ok
