"""Guard rails: which channels and users the bot answers (ALLOWED_CHANNEL_IDS, ALLOWED_USER_IDS).
Teams are filtered earlier, at ingress (ALLOWED_TEAM_IDS): other teams get nothing at all; so are
Slack Connect strangers (`stranger_team`, SECURITY.md "Slack Connect"): members of other
organizations in shared channels and DMs, who would spend the team's key and see its
instructions, are not answered unless ALLOWED_EXTERNAL_TEAM_IDS lists their team (or is `*`)."""

from __future__ import annotations

from teambot.core.jobs import Job
from teambot.core.settings import Settings

NOT_ALLOWED = "Sorry, I'm not enabled for you in this conversation. Ask a workspace admin if you need access."


def allowed(settings: Settings, job: Job) -> bool:
    channel_ok = (
        not settings.allowed_channel_ids
        or job.channel in settings.allowed_channel_ids
        or (job.channel_type == "im" and "im" in settings.allowed_channel_ids)
    )
    user_ok = not settings.allowed_user_ids or job.user in settings.allowed_user_ids
    return channel_ok and user_ok


def stranger_team(
    user_team: str,
    *,
    home_teams: frozenset[str],
    home_orgs: frozenset[str],
    ext_shared: bool,
    allowed_external: frozenset[str],
) -> str | None:
    """The asking user's team when they are a Slack Connect stranger (not answered), else None.

    Answered: no team given (ordinary events), the installing workspace(s) (`team_id`,
    `authorizations[].team_id`), its Enterprise Grid org (`enterprise_id`; org-level users carry the
    `E...` id as `user_team`), any workspace of that org in a conversation not shared outside it
    (`is_ext_shared_channel` false: only the org's members can be there), and the teams listed in
    ALLOWED_EXTERNAL_TEAM_IDS (`*` = all). Anyone else is from another organization."""
    if not user_team or user_team in home_teams or user_team in home_orgs:
        return None
    if "*" in allowed_external or user_team in allowed_external:
        return None
    if home_orgs and not ext_shared:
        return None  # another workspace of the same Grid org, in an org-internal conversation
    return user_team
