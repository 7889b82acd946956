"""Pure pieces, tested directly: signature verification with a controlled clock, payload parsing,
thread context, splitting, dedup. (The secret store's rotation rules: tests/integration/test_secret_store.py.)"""

import json

import pytest

from teambot.ack.dedup import RecentKeys
from teambot.ack.payloads import job_from_event as parse_event
from teambot.ack.payloads import job_from_interaction as parse_interaction
from teambot.ack.signing import SigningSecretUnset, SlackRequestVerifier
from teambot.answer.history import build_messages
from teambot.core.errors import BadRequest, Unauthorized
from teambot.core.jobs import Job
from teambot.gcp.secret_store import SecretStore
from teambot.handlers import load_handlers
from teambot.slack.text import strip_mention
from tests.harness import dm, shortcut, sign


def job_from_event(envelope):
    return parse_event(envelope, load_handlers())


def job_from_interaction(payload):
    return parse_interaction(payload, load_handlers())


class FixedClock:
    def __init__(self, now):
        self.t = now

    def now(self):
        return self.t


def verifier(secret="s3cret", now=1_700_000_000):
    return SlackRequestVerifier(SecretStore({"SLACK_SIGNING_SECRET": secret}), clock=FixedClock(now))


def test_signature_window_and_tampering():
    body = b'{"type":"event_callback"}'
    headers = sign(body, "s3cret", 1_700_000_000)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    verifier().verify(body, ts, sig)
    verifier(now=1_700_000_000 + 299).verify(body, ts, sig)
    for v, b, t, s in [
        (verifier(now=1_700_000_000 + 301), body, ts, sig),  # stale
        (verifier(now=1_700_000_000 - 301), body, ts, sig),  # from the future
        (verifier(), body + b" ", ts, sig),  # another body
        (verifier(secret="other"), body, ts, sig),  # another secret
        (verifier(), body, "not-a-number", sig),
        (verifier(), body, ts, None),
        (verifier(), body, None, sig),
    ]:
        with pytest.raises(Unauthorized):
            v.verify(b, t, s)


def test_placeholder_signing_secret_verifies_nothing():
    body = b"{}"
    headers = sign(body, "unset", 1_700_000_000)
    with pytest.raises(SigningSecretUnset):
        verifier(secret="unset").verify(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


def test_event_parsing_filters_and_shapes():
    job = job_from_event(dm("hi <@UBOT>", "1.000100", thread_ts="1.000001"))
    assert (job.kind, job.channel, job.user, job.message_ts, job.thread_ts, job.bot_user_id) == (
        "answer",
        "D1",
        "U1",
        "1.000100",
        "1.000001",
        "UBOT",
    )
    assert job.reply_thread_ts == "1.000001"
    assert job_from_event(dm("hi", "1.1", subtype="bot_message")) is None
    assert job_from_event(dm("   ", "1.1")) is None
    with pytest.raises(BadRequest):
        job_from_event({"type": "event_callback", "event": "nope"})
    with pytest.raises(BadRequest):
        job_from_event({"type": "event_callback", "event": {"type": "app_mention", "user": 5, "text": "x"}})


def test_shortcut_parsing():
    message = {"channel": "C1", "ts": "2.0", "user": "UBOT", "bot_id": "BBOT", "text": "answer", "thread_ts": "1.0"}
    job = job_from_interaction(shortcut("stop_generation", message))
    assert (job.kind, job.message_ts, job.thread_ts, job.target["bot_id"]) == ("stop_generation", "2.0", "1.0", "BBOT")
    assert job_from_interaction(shortcut("unknown_callback", message)) is None
    assert job_from_interaction({"type": "block_actions"}) is None


def test_dedup_key_ignores_event_id_and_job_round_trips():
    a = job_from_event(dm("hi", "1.000100"))
    b = job_from_event({**dm("hi", "1.000100"), "event_id": "EvOther"})
    assert a.dedup_key() == b.dedup_key() and a.task_id() == b.task_id()
    assert Job.from_json(a.to_json()) == a
    with pytest.raises(ValueError):
        Job.from_json(json.dumps({"kind": "answer", "team": "", "channel": "C", "user": "U", "message_ts": "1"}).encode())


def test_recent_keys_expire_and_stay_bounded():
    now = [0.0]
    keys = RecentKeys(ttl_s=10, max_size=3, clock=lambda: now[0])
    assert keys.add("a") and not keys.add("a")
    now[0] = 11
    assert keys.add("a")
    for k in "bcd":
        keys.add(k)
    assert keys.add("a")  # evicted by size


def test_thread_context_roles_prefixes_and_single_question():
    job = Job("answer", "T", "C", "U2", "3.0", "1.0", "<@UBOT> and now?")
    replies = [
        {"ts": "1.0", "user": "U1", "text": "<@UBOT> first"},
        {"ts": "2.0", "user": "UBOT", "bot_id": "B", "text": "reply"},
        {"ts": "2.5", "user": "UBOT", "bot_id": "B", "text": "oops", "metadata": {"event_type": "teambot_notice"}},
        {"ts": "2.7", "subtype": "channel_join", "user": "U3", "text": "joined"},
        {"ts": "3.0", "user": "U2", "text": "<@UBOT> and now?"},
        {"ts": "4.0", "user": "U1", "text": "later message"},
    ]
    msgs = build_messages(replies, job, bot_user_id="UBOT", bot_id="B", system="S", max_tokens=1000)
    assert msgs == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "<@U1>: first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "<@U2>: and now?"},
    ]


def test_thread_context_single_human_has_no_prefix_and_huge_message_is_cut():
    job = Job("answer", "T", "D", "U1", "1.0", None, "x" * 10_000)
    msgs = build_messages([], job, bot_user_id="UBOT", bot_id="B", system="S", max_tokens=500)
    assert msgs[-1]["role"] == "user" and not msgs[-1]["content"].startswith("<@")
    assert len(msgs[-1]["content"]) <= 500 * 4 + 1


def test_strip_mention_variants():
    assert strip_mention("<@UBOT> hi <@UBOT|bot> there", "UBOT") == "hi  there"
    assert strip_mention("<@U2> hi", "UBOT") == "<@U2> hi"


def test_a_secret_outage_is_an_outage_for_every_caught_failure():
    # Logged once with its cause by the secret store; a caller that catches it (a status line, a
    # file read, a knowledge call) adds one line, never a second trace for Error Reporting.
    from teambot.core import logs
    from teambot.core.errors import SecretUnavailable

    assert logs.is_outage(SecretUnavailable("SLACK_BOT_TOKEN", "PERMISSION_DENIED"))
    assert not logs.is_outage(KeyError("a bug"))
