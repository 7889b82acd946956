"""The metadata-server token source: one fetch for many reads, refreshed before expiry, dropped on
401, clear failures; and it reads exactly what google-auth's compute_engine credentials read."""

import json
import subprocess
import sys
import threading

import pytest

from teambot.gcp.secret_rest import SecretManagerRest
from teambot.gcp.token import REFRESH_MARGIN_S, GoogleAuthToken, MetadataServerToken, TokenUnavailable
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import REPO


@pytest.fixture
def metadata():
    fake = FakeMetadataServer(expires_in=3599).start()
    yield fake
    fake.stop()


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_one_fetch_serves_until_shortly_before_expiry(metadata):
    clock = Clock()
    token = MetadataServerToken(metadata.host, timeout_s=2.5, clock=clock)
    for _ in range(10):
        assert token.headers() == {"Authorization": "Bearer ya29.fake-1"}
    clock.t += 3599 - REFRESH_MARGIN_S - 1
    assert token.headers() == {"Authorization": "Bearer ya29.fake-1"}
    clock.t += 1
    assert token.headers() == {"Authorization": "Bearer ya29.fake-2"}
    assert metadata.token_requests == 2
    assert {flavor for _, flavor in metadata.requests} == {"Google"}


def test_concurrent_first_use_fetches_once(metadata):
    token = MetadataServerToken(metadata.host, timeout_s=2.5)
    results = []
    threads = [threading.Thread(target=lambda: results.append(token.headers())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 3 and metadata.token_requests == 1


def test_invalidate_fetches_a_new_token(metadata):
    token = MetadataServerToken(metadata.host, timeout_s=2.5)
    token.headers()
    token.invalidate()
    assert token.headers() == {"Authorization": "Bearer ya29.fake-2"}


def test_failures_say_what_failed(metadata):
    metadata.down = True
    with pytest.raises(TokenUnavailable) as info:
        MetadataServerToken(metadata.host, timeout_s=2.5).headers()
    assert info.value.kind == "metadata server: HTTP 503"
    with pytest.raises(TokenUnavailable) as info:
        MetadataServerToken("127.0.0.1:9", timeout_s=1.0).headers()  # nothing listens on the discard port
    assert info.value.kind == "metadata server: ConnectionRefusedError"


AGREEMENT = r"""
import json, sys, os
from tests.fakes.metadata_server import FakeMetadataServer
fake = FakeMetadataServer().start()
os.environ["GCE_METADATA_HOST"] = fake.host  # google-auth reads it when _metadata is imported
import google.auth.compute_engine, google.auth.transport.requests
from teambot.gcp.token import MetadataServerToken
credentials = google.auth.compute_engine.Credentials()
credentials.refresh(google.auth.transport.requests.Request())
library = {"path": fake.requests[-1][0].split("?")[0], "token": credentials.token}
ours = {"token": MetadataServerToken(fake.host, timeout_s=2.5).headers()["Authorization"].removeprefix("Bearer ")}
ours["path"] = fake.requests[-1][0]
print(json.dumps({"library": library, "ours": ours, "flavors": sorted({f for _, f in fake.requests})}))
"""


def test_reads_what_google_auths_compute_engine_credentials_read():
    result = subprocess.run([sys.executable, "-c", AGREEMENT], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["library"]["path"] == report["ours"]["path"] == "/computeMetadata/v1/instance/service-accounts/default/token"
    assert (report["library"]["token"], report["ours"]["token"]) == ("ya29.fake-1", "ya29.fake-2")
    assert report["flavors"] == ["Google"]


def test_off_cloud_run_application_default_credentials_through_google_auth(metadata, tmp_path, monkeypatch):
    """Off Cloud Run, google-auth's Application Default Credentials: here a service account key
    file whose token endpoint is the fake; the quota project header rides along (credentials.apply)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    adc = tmp_path / "key.json"
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "dev@p.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": metadata.url + "/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "qp")  # google-auth's own variable
    sm = FakeSecretManager().start()
    try:
        sm.set("s", "value")
        sm.valid_tokens = {"ya29.fake-1"}
        token = GoogleAuthToken()
        assert {k.lower(): v for k, v in token.headers().items()} == {
            "authorization": "Bearer ya29.fake-1",
            "x-goog-user-project": "qp",
        }
        reader = SecretManagerRest(sm.url, token, timeout_s=2.5)
        assert reader.access(sm.ref("s")) == "value"
        sm.valid_tokens = {"ya29.fake-2"}  # revoked: a 401 refreshes once and retries
        assert reader.access(sm.ref("s")) == "value" and metadata.issued == ["ya29.fake-1", "ya29.fake-2"]
    finally:
        sm.stop()
