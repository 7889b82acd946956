import os
import sys
from pathlib import Path

import pytest

from tests import harness
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotProcess, bot_env

# Cache bytecode (and pytest's rewritten test modules) even where PYTHONDONTWRITEBYTECODE=1 is set,
# as on many CI images: without it every pytest worker compiles every test module again (~3 s each).
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items):
    """Each test's kind is its directory (tests/unit, tests/integration, tests/e2e): `make test-fast`
    selects `-m "not e2e"`."""
    for item in items:
        kind = next((k for k in KINDS if k in Path(item.fspath).parts), None)
        if kind:
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(autouse=True)
def _real_cli(request, monkeypatch):
    """A test marked `real_cli` starts its functions as a fresh `python -m functions_framework`,
    not forked from the fork server (tests/zygote.py)."""
    if request.node.get_closest_marker("real_cli"):
        monkeypatch.setattr(harness, "real_cli_for_test", True)


@pytest.fixture
def slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()
    assert fake.never_released == [], "a held or gated call was never released"


@pytest.fixture
def model():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def start_bot(slack, model):
    """start_bot(**env) -> a running function process wired to the loopback fakes."""
    started = []

    def start(**env):
        bot = BotProcess(bot_env(slack, model, **env)).start()
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.end()


@pytest.fixture
def bot(start_bot):
    return start_bot()


@pytest.fixture(scope="session")
def firestore_emulator():
    """HOST:PORT of a running Firestore emulator: FIRESTORE_EMULATOR_HOST if set (.ci/run starts
    one), else one started here from the Google Cloud CLI and stopped at the end of the session."""
    from tests import firestore_emulator as emulator

    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if host:
        emulator.wait_ready(host, timeout_s=30)
        yield host
        return
    if not emulator.gcloud():
        pytest.skip("the Google Cloud CLI (gcloud, with its Firestore emulator) is not installed")
    running = emulator.Emulator().start()
    try:
        yield running.host
    finally:
        running.stop()
