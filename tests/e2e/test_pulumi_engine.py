"""The Pulumi program as the real engine runs it (no CLI here: each mechanism is reproduced from
pulumi/pulumi's sources at commit 1b5949891b3c, see the root __main__.py for the citations).

- Where the dynamic provider process starts and which venv it resolves: the engine starts the
  launcher `pulumi-resource-pulumi-python` (tests/vendor/, a verbatim copy) in the program
  directory with PULUMI_RUNTIME_VIRTUALENV = Pulumi.yaml's `virtualenv`; the language host resolves
  the same option against the project root. Both must be <root>/.venv, where `make install` puts it.
- What it can import: the launcher runs `python -u -m pulumi.dynamic` there; that serves the
  ResourceProvider gRPC API and unpickles each provider (dill) from the resource's `__provider`
  input. The test starts that very module (the installed pulumi's pulumi/dynamic/__main__.py) in a
  clean environment (no PYTHONPATH) in the program directory, and calls Configure and Diff over
  gRPC with inputs recorded from the program under mocks: `__provider` is what the program's
  `pulumi.dynamic.Resource` serialized (pulumi/dynamic/dynamic.py serialize_provider,
  `dill.dumps(provider, protocol=pickle.DEFAULT_PROTOCOL, recurse=True)`), for every dynamic resource.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO
from tests.pulumi_stack import SECRET_SIG, run_stack

LAUNCHER = REPO / "tests" / "vendor" / "pulumi-resource-pulumi-python"
PROJECT = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
DYNAMIC = (
    "pulumi-python:dynamic/teambot:SlackApp",
    "pulumi-python:dynamic/teambot:SlackAppManifest",
    "pulumi-python:dynamic:Resource",
)


def program_dir() -> Path:
    """Pulumi's program directory: the project directory joined with `main` (default: itself)."""
    main = PROJECT.get("main") or "."
    return (REPO / main).resolve()


def plain(value):
    """What the engine sends a provider that does not accept secrets (the dynamic provider's
    Configure answers acceptSecrets=False): secret-wrapped values unwrapped."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Each dynamic resource's inputs as the program registered them (mocks), managed Slack app and
    the invoker check both on."""
    home = tmp_path_factory.mktemp("xdg")
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(home)
    try:
        mocks, _ = run_stack(
            {"openaiApiKey": "sk-x", "slackConfigToken": "xoxe.xoxp-1-recorded", "publicAccess": "invokerIamCheckDisabled"}
        )
    finally:
        if old is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = old
    found = {r.type: plain(r.inputs) for r in mocks.resources if r.type in DYNAMIC}
    assert sorted(found) == sorted(DYNAMIC), sorted(found)
    for inputs in found.values():
        assert isinstance(inputs["__provider"], str) and base64.b64decode(inputs["__provider"])
    return found


class ProviderHost:
    """`python -u -m pulumi.dynamic` as the launcher starts it: cwd, clean environment."""

    def __init__(self, cwd: Path, home: Path):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PULUMI_PROJECT": PROJECT["name"]}
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        watchdog = threading.Timer(60, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline().decode().strip()
        finally:
            watchdog.cancel()
        assert line.isdigit(), (line, self.proc.stderr.read().decode()[-2000:] if self.proc.poll() is not None else "")
        import grpc
        from google.protobuf import struct_pb2  # noqa: F401
        from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

        self.pb = provider_pb2
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(), timeout=30)  # the engine always configures first

    def diff(self, type_: str, olds: dict, news: dict):
        from google.protobuf import struct_pb2

        def struct(d):
            s = struct_pb2.Struct()
            s.update(d)
            return s

        return self.stub.Diff(
            self.pb.DiffRequest(
                id="id-1", urn=f"urn:pulumi:test::slack-gpt-bot::{type_}::r", olds=struct(olds), news=struct(news)
            ),
            timeout=60,
        )

    def close(self):
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_program_is_the_project_root_and_the_providers_launcher_finds_the_same_venv(tmp_path):
    assert program_dir() == REPO.resolve()
    venv = PROJECT["runtime"]["options"]["virtualenv"]
    assert venv == ".venv" and "VENV ?= .venv" in (REPO / "Makefile").read_text()  # what `make install` creates
    # A project laid out like ours, with a stand-in python in <root>/<venv> that reports how it was run.
    fake_python = tmp_path / venv / "bin" / "python"
    fake_python.parent.mkdir(parents=True)
    fake_python.write_text('#!/bin/sh\necho "$0 $PWD $*"\n')
    fake_python.chmod(0o755)
    workdir = tmp_path / (PROJECT.get("main") or ".")
    workdir.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        ["sh", str(LAUNCHER)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PULUMI_RUNTIME_VIRTUALENV": venv},
    )
    assert run.returncode == 0, run.stderr
    exe, cwd, args = run.stdout.split(" ", 2)
    assert Path(exe) == tmp_path / venv / "bin" / "python"  # the language host's venv (project root)
    assert Path(cwd).resolve() == tmp_path.resolve() and args.strip() == "-u -m pulumi.dynamic"
    # The layout before: `main: infra/` made the launcher look for infra/.venv.
    (tmp_path / "infra").mkdir()
    old = subprocess.run(
        ["sh", str(LAUNCHER)],
        cwd=tmp_path / "infra",
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PULUMI_RUNTIME_VIRTUALENV": venv},
    )
    assert old.returncode == 1 and f"{tmp_path}/infra/.venv" in old.stderr and "doesn't exist" in old.stderr


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    h = ProviderHost(program_dir(), tmp_path_factory.mktemp("home"))
    yield h
    h.close()


def test_every_dynamic_provider_loads_in_the_engines_provider_process_and_diffs(recorded, host):
    pb = host.pb
    app = recorded["pulumi-python:dynamic/teambot:SlackApp"]
    olds = {**app, "app_id": "A0OLD", "client_id": "1.2", "client_secret": "s", "signing_secret": "s"}
    renamed = {**app, "manifest": {**app["manifest"], "display_information": {"name": "Helper"}}}
    assert host.diff("SlackApp", olds, renamed).changes == pb.DiffResponse.DIFF_SOME
    new_token = {**app, "config_token": "xoxe.xoxp-1-renewed"}  # tokens expire every 12 h: never a diff
    answer = host.diff("SlackApp", olds, new_token)
    assert answer.changes == pb.DiffResponse.DIFF_NONE and list(answer.replaces) == []

    manifest = recorded["pulumi-python:dynamic/teambot:SlackAppManifest"]
    assert host.diff("SlackAppManifest", manifest, dict(manifest)).changes == pb.DiffResponse.DIFF_NONE
    assert host.diff("SlackAppManifest", manifest, {**manifest, "app_id": "A0NEW"}).changes == pb.DiffResponse.DIFF_SOME

    check = recorded["pulumi-python:dynamic:Resource"]
    assert host.diff("Resource", check, dict(check)).changes == pb.DiffResponse.DIFF_NONE
    redeployed = host.diff("Resource", check, {**check, "functionUpdated": "2026-12-01T00:00:00Z"})
    assert redeployed.changes == pb.DiffResponse.DIFF_SOME and list(redeployed.replaces) == []
    moved = host.diff("Resource", check, {**check, "service": check["service"] + "-2"})
    assert list(moved.replaces) == ["service"] and moved.deleteBeforeReplace


def test_started_where_main_infra_put_it_the_slack_app_provider_still_loads(recorded, tmp_path):
    """The defect the root program directory fixed (from infra/, `infra` was not importable) cannot
    come back: the repository is installed in the venv (pyproject.toml, `-e .` in requirements.txt),
    so the dynamic providers' process imports `infra` whatever directory it starts in."""
    old_host = ProviderHost(REPO / "infra", tmp_path)
    try:
        app = recorded["pulumi-python:dynamic/teambot:SlackApp"]
        assert old_host.diff("SlackApp", app, dict(app)).changes == old_host.pb.DiffResponse.DIFF_NONE
    finally:
        old_host.close()
