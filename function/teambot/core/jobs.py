"""The unit of work handed from ingress to the worker, small and JSON-serialisable.

It travels in a Cloud Tasks body, so it carries ids and the triggering text only. `kind` names
the handler (registry.py) that runs it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Job:
    kind: str
    team: str
    channel: str
    user: str
    message_ts: str  # an answer: the user's message; a shortcut/action: the message it was used on
    thread_ts: str | None = None
    text: str = ""
    channel_type: str = ""
    bot_user_id: str = ""  # from the event's authorizations, when Slack sends it
    user_team: str = ""  # the asking user's own team (Slack Connect, Enterprise Grid): stream recipient
    target: dict = field(default_factory=dict)  # shortcuts: user, bot_id, metadata of the target message
    extra: dict = field(default_factory=dict)  # handler-specific ids (an action's value, a thread's context)
    nonce: str = ""  # part of the dedup key when one message can carry several distinct inputs

    @property
    def reply_thread_ts(self) -> str:
        """Answers always go in a thread: the existing one, or one under the user's message."""
        return self.thread_ts or self.message_ts

    @property
    def recipient_team(self) -> str:
        return self.user_team or self.team

    def dedup_key(self) -> str:
        # One user message may arrive as `message` and `app_mention`, and Slack retries: the
        # message's channel + ts is what identifies it, never the event id.
        key = f"{self.kind}:{self.team}:{self.channel}:{self.message_ts}"
        return f"{key}:{self.nonce}" if self.nonce else key

    def task_id(self) -> str:
        return hashlib.sha256(self.dedup_key().encode()).hexdigest()[:40]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Job":
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            raise ValueError("not a job")
        names = set(cls.__dataclass_fields__)
        job = cls(**{k: v for k, v in data.items() if k in names})
        for name in ("kind", "team", "channel", "user", "message_ts"):
            if not isinstance(getattr(job, name), str) or not getattr(job, name):
                raise ValueError(f"job.{name} missing")
        for name in ("target", "extra"):
            if not isinstance(getattr(job, name), dict):
                raise ValueError(f"job.{name} must be an object")
        return job
