"""The blocks a finished answer carries: its text as a `markdown` block, then Slack's feedback
buttons. Pure; no Slack call.

  * Feedback buttons are a `feedback_buttons` element inside a `context_actions` block
    (docs.slack.dev/reference/block-kit/blocks/context-actions-block, .../block-elements/
    feedback-buttons-element: positive_button and negative_button each need plain_text `text`
    and a `value` of at most 2,000 characters), as in Slack's bolt-python-assistant-template
    (listeners/views/feedback_block.py).
  * `markdown_text` can't be combined with `blocks` on chat.postMessage / chat.update, so the
    final update-mode write carries the text as a `markdown` block (standard Markdown, 12,000
    characters at most: docs.slack.dev/reference/block-kit/blocks/markdown-block) plus a plain
    `text` that is what conversations.replies returns, i.e. what the model sees as history.
  * chat.stopStream takes `blocks`, "rendered at the bottom of the finalized message"
    (docs.slack.dev/reference/methods/chat.stopStream), next to the last `markdown_text`.

The button value names the rating and the model that wrote the answer, so the feedback log line
says which model it rates even after the configuration changed.
"""

from __future__ import annotations

import json

FEEDBACK_ACTION = "answer_feedback"  # block action id; declared by handlers/answer_feedback.py
RATINGS = ("good", "bad")


def feedback_block(model: str) -> dict:
    def button(label: str, rating: str, spoken: str) -> dict:
        return {
            "text": {"type": "plain_text", "text": label},
            "accessibility_label": spoken,
            "value": json.dumps({"rating": rating, "model": model[:200]}, separators=(",", ":")),
        }

    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": button("👍", "good", "This answer was helpful"),
                "negative_button": button("👎", "bad", "This answer was not helpful"),
            }
        ],
    }


def parse_feedback(value: str) -> tuple[str, str] | None:
    """(rating, model) from a clicked button's value, or None when it is not ours."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("rating") not in RATINGS:
        return None
    model = data.get("model")
    return data["rating"], model[:200] if isinstance(model, str) else ""


def with_blocks(text: str, blocks: list[dict]) -> dict:
    """chat.postMessage / chat.update arguments for `text`: plain markdown_text, or, when there
    are blocks to add, the text as a markdown block (plus the same text as the fallback)."""
    if not blocks:
        return {"markdown_text": text}
    return {"text": text, "blocks": [{"type": "markdown", "text": text}, *blocks]}
