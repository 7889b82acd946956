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


class CertsUnavailable(BotError):
    """Google's token-signing certs could not be fetched, so no task token can be judged: 503 (an
    outage on Google's side, not a forged token), and Cloud Tasks retries the task."""

    status = 503


class HandoffFailed(BotError):
    """The job could not be handed to the worker (Cloud Tasks down): 503, Slack retries."""

    status = 503


class ModelError(BotError):
    """A model failure, with the sentence the user sees in Slack (the worker shows it, never 5xx)."""

    def __init__(self, user_message: str, kind: str):
        super().__init__(user_message)
        self.user_message = user_message
        self.kind = kind


class ModelStreamUnreadable(ModelError):
    """The model's stream held something our parser could not read: a bug (ours, or a provider's
    change), not a connection error. Logged once with its trace (logs.exception); the user sees an
    honest sentence with the log line's reference."""

    def __init__(self, error_id: str):
        super().__init__(
            f"Something went wrong on our side while reading the model's answer (not a problem with your "
            f"question). If it happens again, give an admin this reference: {error_id}.",
            "stream_unreadable",
        )
        self.error_id = error_id


def unexpected_message(error_id: str) -> str:
    """The one honest sentence a user sees for an unexpected failure, with the log's reference."""
    return f"Something went wrong on our side. If it happens again, give an admin this reference: {error_id}."
