"""The AI panel's suggested prompts (assistant.threads.setSuggestedPrompts, at most 4).

Standard library only: infra/manifest.py loads this file by path to render the manifest's
features.assistant_view.suggested_prompts with the same parser, so the manifest and the function
always show the same list (infra must not depend on the function package being importable).
"""

from __future__ import annotations

import json

# The same defaults are in slack_manifest.yaml features.assistant_view.suggested_prompts (a test keeps
# them equal); Pulumi config `suggestedPrompts` replaces both (env SUGGESTED_PROMPTS).
DEFAULT_SUGGESTED_PROMPTS = (
    {"title": "Summarize a thread", "message": "Summarize this thread for me: "},
    {"title": "Explain some code", "message": "Explain what this code does, step by step: "},
    {"title": "Draft a reply", "message": "Help me write a short, friendly reply to: "},
    {"title": "Brainstorm ideas", "message": "Give me five ideas for "},
)
MAX_SUGGESTED_PROMPTS = 4


def suggested_prompts(raw: str) -> tuple[dict[str, str], ...]:
    """JSON list of prompts, each a string (title = message) or {"title", "message"}; at most 4.
    Empty = the defaults."""
    if not raw.strip():
        return DEFAULT_SUGGESTED_PROMPTS
    value = json.loads(raw)
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SUGGESTED_PROMPTS:
        raise ValueError(f"SUGGESTED_PROMPTS must be a JSON list of 1 to {MAX_SUGGESTED_PROMPTS} prompts")
    prompts = []
    for item in value:
        if isinstance(item, str) and item.strip():
            item = {"title": item, "message": item}
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str) and item[k] for k in ("title", "message"))):
            raise ValueError("each suggested prompt is a string or an object with title and message")
        prompts.append({"title": item["title"], "message": item["message"]})
    return tuple(prompts)
