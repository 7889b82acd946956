"""Where Slack refused native streaming, remembered per process so it is not asked again.

Some refusals concern one channel (its type, missing recipients), others the whole workspace
(the feature is off, the method unknown, the token type); anything else is a passing failure
and only that answer falls back. Owned by the worker's services, not a module global, so tests
and instances never share it by accident.
"""

from __future__ import annotations

import threading

CHANNEL_REFUSALS = frozenset({"channel_type_not_supported", "missing_recipient_team_id", "missing_recipient_user_id"})
WORKSPACE_REFUSALS = frozenset({"feature_not_enabled", "unknown_method", "not_allowed_token_type", "missing_scope"})


class StreamRefusals:
    def __init__(self):
        self._channels: set[str] = set()
        self._everywhere = False
        self._lock = threading.Lock()

    def remember(self, channel: str, error: str) -> None:
        with self._lock:
            if error in CHANNEL_REFUSALS:
                self._channels.add(channel)
            elif error in WORKSPACE_REFUSALS:
                self._everywhere = True

    def refused(self, channel: str) -> bool:
        with self._lock:
            return self._everywhere or channel in self._channels
