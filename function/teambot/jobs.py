"""The unit of work handed from ingress to the worker, small and JSON-serialisable.

It travels in a Cloud Tasks body, so it carries ids and the triggering text only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

ANSWER, STOP, DELETE = "answer", "stop", "delete"
KINDS = (ANSWER, STOP, DELETE)


@dataclass(frozen=True)
class Job:
    kind: str
    team: str
    channel: str
    user: str
    message_ts: str  # answer: the user's message; stop/delete: the message the shortcut was used on
    thread_ts: str | None = None
    text: str = ""
    channel_type: str = ""
    bot_user_id: str = ""  # from the event's authorizations, when Slack sends it
    target: dict = field(default_factory=dict)  # stop/delete: user, bot_id, metadata of the target

    @property
    def reply_thread_ts(self) -> str:
        """Answers always go in a thread: the existing one, or one under the user's message."""
        return self.thread_ts or self.message_ts

    def dedup_key(self) -> str:
        # One user message may arrive as `message` and `app_mention`, and Slack retries: the
        # message's channel + ts is what identifies it, never the event id.
        return f"{self.kind}:{self.team}:{self.channel}:{self.message_ts}"

    def task_id(self) -> str:
        return hashlib.sha256(self.dedup_key().encode()).hexdigest()[:40]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Job":
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError("not a job")
        names = set(cls.__dataclass_fields__)
        job = cls(**{k: v for k, v in data.items() if k in names})
        for name in ("team", "channel", "user", "message_ts"):
            if not isinstance(getattr(job, name), str) or not getattr(job, name):
                raise ValueError(f"job.{name} missing")
        return job
