"""The ack path stays light: no openai, no worker, no Secret Manager client for literal secrets.
Runs in a fresh interpreter so nothing else in the test session has imported them first."""

import json
import subprocess
import sys

from tests.harness import REPO

SCRIPT = r"""
import json, sys, os
sys.path[:0] = [os.getcwd()]
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.harness import dm, sign, SIGNING_SECRET
tasks = FakeCloudTasks(FakeGoogleOIDC())
tasks.dispatch = False
tasks.start()
os.environ.update({
    "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test",
    "TASKS_QUEUE": "projects/p/locations/l/queues/q", "TASKS_INVOKER_SA": "i@p.iam.gserviceaccount.com",
    "FUNCTION_URL": "https://l-p.cloudfunctions.net/slack-bot", "CLOUD_TASKS_ENDPOINT": tasks.url,
})
import functions_framework
app = functions_framework.create_app(target="slack_bot", source="function/main.py")
body = json.dumps(dm("hello", "1700000000.000100")).encode()
response = app.test_client().post("/", data=body, headers={"Content-Type": "application/json", **sign(body)})
print(json.dumps({
    "status": response.status_code,
    "tasks": len(tasks.created),
    "loaded": sorted(m for m in ("openai", "teambot.worker", "teambot.answer", "google.cloud.secretmanager_v1", "grpc", "google.cloud.firestore") if m in sys.modules),
}))
"""


def test_ack_path_imports_neither_openai_nor_the_worker():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200 and report["tasks"] == 1  # the event really went through the ack path
    assert report["loaded"] == []
