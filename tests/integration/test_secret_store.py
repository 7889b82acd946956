"""The secret store's rotation rules, in-process, against the loopback Secret Manager fake over
real HTTP (the same REST reader the function uses; a controllable clock for the time rules)."""

import json
import threading
import time

import pytest

from teambot.core.errors import SecretUnavailable
from teambot.gcp.secret_rest import SecretManagerRest, SecretReadError
from teambot.gcp.secret_store import FAILURE_BACKOFF_S, SecretStore
from teambot.gcp.token import MetadataServerToken, NoToken
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import wait_for

NAMES = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OPENAI_API_KEY")


@pytest.fixture
def sm():
    fake = FakeSecretManager().start()
    for name in NAMES:
        fake.set(name.lower(), f"{name.lower()}-v1")
    yield fake
    fake.stop()


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def store_for(sm, clock, *, ttl_s=600.0, **extra_refs):
    refs = {name: sm.ref(name.lower()) for name in NAMES}
    return SecretStore({**refs, **extra_refs}, ttl_s=ttl_s, endpoint=sm.url, clock=clock)


def reads(sm, name):
    return sm.access_count.get(sm.name(name.lower()), 0)


def test_cold_start_reads_the_three_concurrently(sm):
    sm.held = release = threading.Event()  # every read waits in the fake until released
    store = store_for(sm, Clock())
    loaded = []
    loading = threading.Thread(target=lambda: loaded.append(store.load_all()))
    loading.start()
    try:
        wait_for(lambda: sm.waiting == 3)  # all three in flight at once (one after the other: only ever one)
    finally:
        release.set()
        loading.join(10)
    assert loaded == [{}]
    assert {name: store.get(name) for name in NAMES} == {name: f"{name.lower()}-v1" for name in NAMES}
    assert [reads(sm, name) for name in NAMES] == [1, 1, 1]


def test_refresh_rate_limit_and_literals(sm):
    clock = Clock()
    store = store_for(sm, clock, LITERAL=" abc ")
    assert store.get("SLACK_SIGNING_SECRET") == "slack_signing_secret-v1" and store.get("LITERAL") == "abc"
    sm.set("slack_signing_secret", "v2")
    assert store.refresh("SLACK_SIGNING_SECRET", min_interval_s=60) is True
    for _ in range(50):
        assert store.refresh("SLACK_SIGNING_SECRET", min_interval_s=60) is False
    assert reads(sm, "SLACK_SIGNING_SECRET") == 2 and store.get("SLACK_SIGNING_SECRET") == "v2"
    clock.t = 61
    sm.set("slack_signing_secret", "v3")
    assert store.refresh("SLACK_SIGNING_SECRET", min_interval_s=60) is True
    assert store.get("SLACK_SIGNING_SECRET") == "v3"
    assert store.refresh("SLACK_SIGNING_SECRET") is False  # no interval asked: reads, value unchanged
    assert reads(sm, "SLACK_SIGNING_SECRET") == 4
    assert store.refresh("LITERAL") is False


def test_ttl_serves_the_cached_value_and_re_reads_in_the_background(sm):
    clock = Clock()
    store = store_for(sm, clock, ttl_s=600)
    assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"
    sm.set("openai_api_key", "openai_api_key-v2")
    clock.t = 599
    assert store.get("OPENAI_API_KEY") == "openai_api_key-v1" and reads(sm, "OPENAI_API_KEY") == 1
    sm.held = release = threading.Event()  # the re-read waits in the fake until released
    clock.t = 601
    try:
        # Never waits for the re-read: a get that did would block until the release, then see v2.
        assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"
        assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"  # one re-read in flight, not two
        wait_for(lambda: sm.waiting == 1)
    finally:
        release.set()
    wait_for(lambda: store.get("OPENAI_API_KEY") == "openai_api_key-v2", timeout=10)
    assert reads(sm, "OPENAI_API_KEY") == 2


def test_failures_are_remembered_briefly_then_retried(sm):
    clock = Clock()
    store = store_for(sm, clock)
    sm.denied.add(sm.name("slack_signing_secret"))
    for _ in range(20):
        with pytest.raises(SecretUnavailable) as info:
            store.get("SLACK_SIGNING_SECRET")
    assert "secretAccessor" in info.value.cause and reads(sm, "SLACK_SIGNING_SECRET") == 1
    sm.denied.clear()
    clock.t = FAILURE_BACKOFF_S + 1
    assert store.get("SLACK_SIGNING_SECRET") == "slack_signing_secret-v1"


def test_the_signature_check_recovers_by_itself_once_secret_manager_is_back(sm):
    """The e2e test shows a down Secret Manager gives a 503 and a live process; this shows, on a
    fake clock instead of a 10 s sleep, that the same verifier verifies again after the back-off."""
    from teambot.ack.signing import SlackRequestVerifier
    from tests.harness import sign

    clock = Clock()
    verifier = SlackRequestVerifier(store_for(sm, clock))
    body = b'{"type":"event_callback"}'
    headers = sign(body, "slack_signing_secret-v1")
    args = (body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    sm.down = True
    for _ in range(3):
        with pytest.raises(SecretUnavailable):
            verifier.verify(*args)
    sm.down = False
    clock.t = FAILURE_BACKOFF_S - 1
    with pytest.raises(SecretUnavailable):  # still inside the back-off: Secret Manager is spared
        verifier.verify(*args)
    clock.t = FAILURE_BACKOFF_S + 1
    verifier.verify(*args)  # no exception: verified, without a restart
    assert reads(sm, "SLACK_SIGNING_SECRET") == 1  # the fake counts the read that succeeded


def test_a_forced_refresh_skips_the_failure_back_off(sm):
    clock = Clock()
    store = store_for(sm, clock)
    sm.down = True
    with pytest.raises(SecretUnavailable):
        store.get("SLACK_BOT_TOKEN")
    sm.down = False
    assert store.refresh("SLACK_BOT_TOKEN") is True  # upstream refused the key: read now
    assert store.get("SLACK_BOT_TOKEN") == "slack_bot_token-v1"


@pytest.mark.parametrize(
    "failure, status, cause",
    [
        ("missing", 404, "does not exist"),
        ("denied", 403, "secretAccessor"),
        ("disabled", 400, "disabled"),
        ("down", 503, "unavailable"),
    ],
)
def test_each_failure_is_logged_with_its_likely_cause_and_no_value(sm, capsys, failure, status, cause):
    name = sm.name("slack_bot_token")  # (the fake's ids are the variable names, lower case)
    if failure == "missing":
        sm.secrets.pop(name)
    elif failure == "denied":
        sm.denied.add(name)
    elif failure == "disabled":
        sm.secrets[name][-1]["state"] = "DISABLED"
    else:
        sm.down = True
    store = store_for(sm, Clock())
    failures = store.load_all()
    failing = sorted(NAMES) if failure == "down" else ["SLACK_BOT_TOKEN"]  # "down" is the whole service
    assert sorted(failures) == failing and all(cause in f.cause for f in failures.values())
    if failure != "down":
        assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"  # the others still load
    out = capsys.readouterr().out
    records = sorted((json.loads(line) for line in out.splitlines() if line.startswith("{")), key=lambda r: r["secret"])
    assert [(r["severity"], r["message"], r["secret"], r["resource"], r["http_status"]) for r in records] == [
        ("ERROR", "secret_unavailable", name, sm.ref(name.lower()), status) for name in failing
    ]
    assert all(cause in r["likely_cause"] for r in records)
    assert "-v1" not in out


def test_a_hung_secret_manager_fails_within_the_timeout():
    sm = FakeSecretManager().start()
    try:
        sm.set("s", "value")
        sm.delay_s = 3.0
        reader = SecretManagerRest(sm.url, NoToken(), timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(SecretReadError) as info:
            reader.access(sm.ref("s"))
        assert time.monotonic() - started < 2.0
        assert info.value.status is None and "Timeout" in info.value.kind
    finally:
        sm.stop()


def test_an_unreachable_endpoint_is_a_transport_failure():
    reader = SecretManagerRest("http://127.0.0.1:9", NoToken(), timeout_s=1.0)  # discard port: nothing listens
    with pytest.raises(SecretReadError) as info:
        reader.access("projects/p/secrets/s/versions/latest")
    assert info.value.status is None and info.value.kind == "ConnectionRefusedError"


def test_on_cloud_run_reads_carry_the_metadata_servers_token_and_a_401_fetches_a_new_one(sm):
    metadata = FakeMetadataServer().start()
    try:
        sm.valid_tokens = {"ya29.fake-1"}
        clock = Clock()
        refs = {name: sm.ref(name.lower()) for name in NAMES}
        store = SecretStore(
            refs, endpoint=sm.url, clock=clock, token=MetadataServerToken(metadata.host, timeout_s=2.5, clock=clock)
        )
        assert store.load_all() == {}
        assert metadata.token_requests == 1 and [reads(sm, name) for name in NAMES] == [1, 1, 1]
        sm.valid_tokens = {"ya29.fake-2"}  # the token was revoked before its expiry
        sm.set("slack_bot_token", "slack_bot_token-v2")
        assert store.refresh("SLACK_BOT_TOKEN") is True
        assert metadata.token_requests == 2 and store.get("SLACK_BOT_TOKEN") == "slack_bot_token-v2"
        metadata.down = True  # no token at all: a clear cause, the cached values still serve
        sm.valid_tokens = {"ya29.fake-3"}
        with pytest.raises(SecretUnavailable) as info:
            store.refresh("SLACK_BOT_TOKEN")
        assert info.value.cause == "metadata server: HTTP 503"
        assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"
    finally:
        metadata.stop()


def test_the_background_re_read_goes_through_the_official_client(sm):
    """The TTL re-read uses google-cloud-secret-manager (issue #10 keeps it for the background
    refresh); the cold start and forced re-reads stay on the REST reader."""
    import sys

    clock = Clock()
    store = store_for(sm, clock, ttl_s=600)
    assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"
    sm.set("openai_api_key", "openai_api_key-v2")
    clock.t += 601
    assert store.get("OPENAI_API_KEY") == "openai_api_key-v1"  # served from cache while the re-read runs
    wait_for(lambda: store.get("OPENAI_API_KEY") == "openai_api_key-v2", timeout=20)
    assert store._background_reader._client is not None and "google.cloud.secretmanager_v1" in sys.modules


def test_reads_reuse_one_keep_alive_connection(sm):
    """A new connection (a TLS handshake, deployed) per read would add tens of ms to every call
    made while Slack waits; a connection the server closed while idle is replaced, not an error."""
    reader = SecretManagerRest(sm.url, NoToken(), timeout_s=2.5)
    before = getattr(sm, "connections", 0)
    for _ in range(5):
        assert reader.access(sm.ref("openai_api_key")) == "openai_api_key-v1"
    assert sm.connections - before == 1
    for conn in reader._api._idle:
        conn.sock.close()  # as a server closing an idle keep-alive connection would
    assert reader.access(sm.ref("openai_api_key")) == "openai_api_key-v1"
    assert sm.connections - before == 2
