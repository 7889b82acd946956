"""views.publish for the fake Slack (mixed into FakeSlack): the App Home tab.

Follows https://api.slack.com/methods/views.publish (arguments `user_id`, `view`; the view's
`type` must be "home" for the Home tab) and the Block Kit limits of
https://api.slack.com/reference/block-kit/blocks: 100 blocks per view, header text <= 150
characters, section text <= 3,000, section fields <= 10 of <= 2,000 each, context elements <= 10.
A view outside them is refused with `invalid_arguments`, as Slack does, so a Home tab that
production would reject fails here too.
"""

from __future__ import annotations

import json


def _problems(view) -> list[str]:
    if not isinstance(view, dict) or view.get("type") != "home":
        return ["view.type must be home"]
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        return ["view.blocks: at most 100 blocks"]
    out = []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            text = block.get("text") or {}
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                out.append(f"blocks/{i}: header needs plain_text of 1..150 chars")
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                out.append(f"blocks/{i}: section needs text or fields")
            if text is not None and not 0 < len(text.get("text", "")) <= 3000:
                out.append(f"blocks/{i}: section text of 1..3000 chars")
            if fields and (len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields)):
                out.append(f"blocks/{i}: at most 10 fields of <= 2000 chars")
        elif kind == "context":
            if not 0 < len(block.get("elements") or []) <= 10:
                out.append(f"blocks/{i}: context needs 1..10 elements")
        elif kind != "divider":
            out.append(f"blocks/{i}: block type {kind!r} not expected here")
    return out


class ViewsApi:
    @property
    def home_views(self) -> dict:
        """user id -> the Home view last published for them."""
        return self.__dict__.setdefault("_home_views", {})

    def m_views_publish(self, p):
        home_views = self.home_views
        view = json.loads(p["view"]) if isinstance(p.get("view"), str) else p.get("view")
        if not p.get("user_id"):
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": ["user_id required"]}}
        problems = _problems(view)
        if problems:
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": problems}}
        home_views[p["user_id"]] = view
        return {"ok": True, "view": {"id": f"V{len(home_views):08d}", **view}}
