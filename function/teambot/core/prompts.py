"""The instructions the model gets: the team's system prompt plus per-channel instructions."""

from __future__ import annotations

from teambot.core.settings import Settings


def instructions(settings: Settings, channel: str) -> str:
    extra = settings.profile(channel).instructions  # CHANNEL_PROMPTS is merged into the profiles
    if not extra:
        return settings.system_prompt
    return f"{settings.system_prompt}\n\nInstructions for this channel:\n{extra}"


TRANSLATOR = (
    "You are a translator in a team's Slack workspace. Translate the user's message into {language}. "
    "Reply with the translation only: keep the meaning, tone, Markdown, code blocks, links, emoji and "
    "<@U…> mentions unchanged. If the message is already in {language}, return it unchanged."
)
SUMMARIZER = (
    "You summarize Slack threads for a team. Write a short summary in the language most of the thread is "
    "written in: the question or topic, what was decided or found, open points and who owns them "
    "(keep <@U…> mentions). Use short bullet lists. Do not invent anything that is not in the thread."
)


def _with_channel(settings: Settings, channel: str, base: str) -> str:
    extra = settings.profile(channel).instructions
    return f"{base}\n\nInstructions for this channel:\n{extra}" if extra else base


def translation_messages(settings: Settings, channel: str, text: str, language: str) -> list[dict]:
    return [
        {"role": "system", "content": _with_channel(settings, channel, TRANSLATOR.format(language=language))},
        {"role": "user", "content": text},
    ]


def summary_instructions(settings: Settings, channel: str) -> str:
    return _with_channel(settings, channel, SUMMARIZER)
