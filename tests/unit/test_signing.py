"""The hand-written v0 check in teambot.ack.signing agrees with slack_sdk's SignatureVerifier (the
reference implementation it replaces on the ack path), case by case, with an injected clock."""

import hashlib
import hmac

import pytest
from slack_sdk.signature import SignatureVerifier

from teambot.ack.signing import signature_is_valid

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
BODY = b'{"type":"event_callback","event":{"type":"message","text":"caf\xc3\xa9 \xe2\x9c\x93"}}'


class FixedClock:
    def __init__(self, now):
        self.t = now

    def now(self):
        return self.t


def v0(body: bytes, ts: str, secret: str = SECRET) -> str:
    """The signature as Slack computes it (docs.slack.dev 'Verifying requests from Slack')."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()


GOOD = v0(BODY, str(NOW))
CASES = {
    # name: (body, timestamp, signature, now) -- expected verdict comes from slack_sdk itself
    "valid": (BODY, str(NOW), GOOD, NOW),
    "valid, 300 s old": (BODY, str(NOW), GOOD, NOW + 300),
    "valid, 300 s ahead": (BODY, str(NOW), GOOD, NOW - 300),
    "stale, 301 s old": (BODY, str(NOW), GOOD, NOW + 301),
    "from the future, 301 s": (BODY, str(NOW), GOOD, NOW - 301),
    "fractional clock at the edge": (BODY, str(NOW), GOOD, NOW + 300.5),
    "body changed": (BODY + b" ", str(NOW), GOOD, NOW),
    "empty body, signed": (b"", str(NOW), v0(b"", str(NOW)), NOW),
    "other secret": (BODY, str(NOW), v0(BODY, str(NOW), "other"), NOW),
    "timestamp changed": (BODY, str(NOW + 1), GOOD, NOW),
    "timestamp with spaces (int() accepts it; signed as sent)": (BODY, f" {NOW} ", v0(BODY, f" {NOW} "), NOW),
    "timestamp with underscores (int() accepts it)": (BODY, "1_700_000_000", v0(BODY, "1_700_000_000"), NOW),
    "upper-case hex": (BODY, str(NOW), "v0=" + GOOD[3:].upper(), NOW),
    "v1 prefix": (BODY, str(NOW), "v1=" + GOOD[3:], NOW),
    "truncated": (BODY, str(NOW), GOOD[:-1], NOW),
    "empty signature": (BODY, str(NOW), "", NOW),
}
RAISING = {
    # slack_sdk raises here; the function has always answered 401 (the caller catches ValueError)
    "non-numeric timestamp": (BODY, "yesterday", GOOD, NOW),
    "non-UTF-8 body": (b"\xff\xfe" + BODY, str(NOW), v0(b"\xff\xfe" + BODY, str(NOW)), NOW),
}


def reference(body, ts, signature, now) -> bool:
    return SignatureVerifier(SECRET, clock=FixedClock(now)).is_valid(body, ts, signature)


@pytest.mark.parametrize("name", CASES)
def test_agrees_with_slack_sdk(name):
    body, ts, signature, now = CASES[name]
    assert signature_is_valid(SECRET, body, ts, signature, now) == reference(body, ts, signature, now)


def test_the_cases_cover_both_verdicts():
    verdicts = [reference(*case) for case in CASES.values()]
    assert verdicts.count(True) == 6 and verdicts.count(False) == len(CASES) - 6


@pytest.mark.parametrize("name", RAISING)
def test_where_slack_sdk_raises_the_request_is_refused(name):
    body, ts, signature, now = RAISING[name]
    with pytest.raises(ValueError):
        reference(body, ts, signature, now)
    assert signature_is_valid(SECRET, body, ts, signature, now) is False


def test_a_non_ascii_signature_header_is_refused_not_raised():
    # hmac.compare_digest raises TypeError on non-ASCII str (slack_sdk would, and that was a 500)
    with pytest.raises(TypeError):
        reference(BODY, str(NOW), GOOD[:-1] + "é", NOW)
    assert signature_is_valid(SECRET, BODY, str(NOW), GOOD[:-1] + "é", NOW) is False
