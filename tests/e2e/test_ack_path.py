"""The ack path stays light: no openai, no worker, no slack_sdk, no Secret Manager client library
(google.api_core, proto, grpc) and no requests/google-auth transport, even in the deployed shape:
Cloud Tasks hand-off, the three secrets from Secret Manager, the token from the metadata server.
Runs in a fresh interpreter so nothing else in the test session has imported them first."""

import json
import subprocess
import sys

import pytest

from tests.harness import REPO

SCRIPT = r"""
import json, sys, os
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import dm, sign, SIGNING_SECRET
HEAVY = ("openai", "teambot.answer.worker", "teambot.answer.pipeline", "slack_sdk", "google.cloud.secretmanager_v1",
         "google.api_core", "proto", "grpc", "requests", "google.auth.transport.requests", "google.cloud.firestore")
assert not [m for m in HEAVY if m in sys.modules]  # the fakes themselves load none of them
tasks = FakeCloudTasks(FakeGoogleOIDC())
tasks.dispatch = False
tasks.start()
values = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"}
os.environ.update({
    "TASKS_QUEUE": "projects/p/locations/l/queues/q", "TASKS_INVOKER_SA": "i@p.iam.gserviceaccount.com",
    "FUNCTION_URL": "https://l-p.cloudfunctions.net/slack-bot", "CLOUD_TASKS_ENDPOINT": tasks.url,
})
sm = None
if sys.argv[1] == "managed":
    sm = FakeSecretManager().start()
    metadata = FakeMetadataServer().start()
    sm.valid_tokens = {"ya29.fake-1"}  # Cloud Run: reads carry the metadata server's token
    os.environ.update({"K_SERVICE": "slack-bot", "GCE_METADATA_HOST": metadata.host})
    for name, value in values.items():
        sm.set(name.lower(), value)
        os.environ[name] = sm.ref(name.lower())
    os.environ["SECRET_MANAGER_ENDPOINT"] = sm.url
else:
    os.environ.update(values)
import functions_framework
app = functions_framework.create_app(target="slack_bot", source="function/main.py")
body = json.dumps(dm("hello", "1700000000.000100")).encode()
response = app.test_client().post("/", data=body, headers={"Content-Type": "application/json", **sign(body)})
print(json.dumps({
    "status": response.status_code,
    "tasks": len(tasks.created),
    "secret_reads": sorted(sm.access_count.values()) if sm else [],
    "loaded": sorted(m for m in HEAVY if m in sys.modules),
}))
"""


@pytest.mark.parametrize("secrets, reads", [("literal", []), ("managed", [1, 1, 1])])
def test_ack_path_imports_neither_openai_nor_the_worker_nor_client_libraries(secrets, reads):
    result = subprocess.run([sys.executable, "-c", SCRIPT, secrets], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200 and report["tasks"] == 1  # the event really went through the ack path
    assert report["secret_reads"] == reads  # ... and, managed, read its secrets from Secret Manager
    assert report["loaded"] == []
