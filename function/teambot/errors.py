"""The small exception hierarchy of the function. Each maps to one HTTP status at the edge."""

from __future__ import annotations


class BotError(Exception):
    """Base of every error this function raises on purpose."""

    status = 500


class BadRequest(BotError):
    """The caller sent something we will never accept (4xx, Slack should not retry)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Unauthorized(BadRequest):
    def __init__(self, reason: str):
        super().__init__(reason, 401)


class Forbidden(BadRequest):
    def __init__(self, reason: str):
        super().__init__(reason, 403)


class SecretUnavailable(BotError):
    """A secret could not be read: answer 503 so Slack / Cloud Tasks retry later."""

    status = 503

    def __init__(self, name: str, cause: str):
        super().__init__(f"secret {name} unavailable: {cause}")
        self.name = name
        self.cause = cause


class HandoffFailed(BotError):
    """The job could not be handed to the worker (Cloud Tasks down): 503, Slack retries."""

    status = 503


class ModelError(BotError):
    """A model failure, with the sentence the user sees in Slack (the worker shows it, never 5xx)."""

    def __init__(self, user_message: str, kind: str):
        super().__init__(user_message)
        self.user_message = user_message
        self.kind = kind
