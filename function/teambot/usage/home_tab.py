"""The App Home tab as a Block Kit view (pure: a summary in, a `views.publish` view out).

Plain blocks only (header, section, context, divider): they render on every Slack client.
Limits that apply (https://api.slack.com/reference/block-kit/blocks): 100 blocks per view,
3,000 characters per section text, 150 per header; this view stays far below them (a chart is
14 lines of ~40 characters, top users at most 10 lines).
"""

from __future__ import annotations

from teambot.usage.ledger import UsageSummary
from teambot.usage.store import Totals

BAR_WIDTH = 20
UNAVAILABLE = "Usage figures are unavailable right now. Please open this tab again in a minute."


def _usage_section(title, today_label, month_label, today, month, days, budget, whose) -> list[dict]:
    """A header, today's and this month's figures side by side, the budget note, the daily chart."""
    blocks = [
        _header(title),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"{today_label}\n{_line(today)}"},
                {"type": "mrkdwn", "text": f"{month_label}\n{_line(month)}"},
            ],
        },
    ]
    if budget:
        blocks.append(_context(_budget_note(today, budget, whose)))
    blocks.append(_section(_chart(days)))
    return blocks


def home_view(summary: UsageSummary | None, *, is_admin: bool = False) -> dict:
    if summary is None:
        return {"type": "home", "blocks": [_header("Usage"), _section(UNAVAILABLE)]}
    blocks = _usage_section(
        "Your usage",
        f"*Today* ({summary.day}, UTC)",
        f"*This month* ({summary.month})",
        summary.user_today,
        summary.user_month,
        summary.user_days,
        summary.user_budget,
        "per person",
    )
    blocks += [{"type": "divider"}]
    blocks += _usage_section(
        "Workspace",
        "*Today*",
        "*This month*",
        summary.team_today,
        summary.team_month,
        summary.team_days,
        summary.team_budget,
        "for the workspace",
    )
    if is_admin and summary.top_users is not None:
        blocks += [{"type": "divider"}, _header("Top users this month")]
        lines = [f"{rank}. <@{user}>  {_line(totals)}" for rank, (user, totals) in enumerate(summary.top_users, 1)]
        blocks.append(_section("\n".join(lines) or "_No usage yet this month._"))
    blocks.append(_context("Tokens are prompt + completion; cost is an estimate from the configured model prices."))
    return {"type": "home", "blocks": blocks}


def _line(totals: Totals) -> str:
    answers = "1 answer" if totals.answers == 1 else f"{totals.answers:,} answers"
    return f"{totals.tokens:,} tokens · {answers} · {_money(totals.cost_usd)}"


def _money(usd: float) -> str:
    if 0 < usd < 0.01:
        return "< $0.01"
    return f"${usd:,.2f}"


def _budget_note(today: Totals, budget: int, whom: str) -> str:
    share = min(100, round(100 * today.tokens / budget))
    return f"Daily limit: {budget:,} tokens {whom}; {share}% used today. It resets at midnight UTC."


def _chart(days: list[tuple[str, Totals]]) -> str:
    """One line per day: MM-DD, a bar scaled to the busiest day, the tokens."""
    peak = max((totals.tokens for _, totals in days), default=0)
    lines = []
    for day, totals in days:
        width = round(BAR_WIDTH * totals.tokens / peak) if peak else 0
        bar = "█" * max(width, 1 if totals.tokens else 0)
        lines.append(f"{day[5:]} {bar.ljust(BAR_WIDTH)} {totals.tokens:>9,}")
    return "```\n" + "\n".join(lines) + "\n```"


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
