"""`make deploy` / `make manifest` as a new user meets them: no Pulumi CLI, or a failing one."""

import os
import subprocess

from tests.harness import REPO


def make(target, tmp_path, pulumi_script=None):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if pulumi_script is not None:  # a stand-in for the CLI, first on PATH
        (bin_dir / "pulumi").write_text("#!/bin/sh\n" + pulumi_script)
        (bin_dir / "pulumi").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), "-C", str(tmp_path), target],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_deploy_without_the_pulumi_cli_says_what_to_install_in_one_line(tmp_path):
    result = make("deploy", tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "https://www.pulumi.com/docs/install/" in lines[0], result.stderr
    assert not (tmp_path / ".venv").exists()  # it stopped before installing anything


def test_manifest_never_leaves_an_empty_or_partial_file(tmp_path):
    result = make("manifest", tmp_path, 'echo "display_information:"; echo "error: no stack selected" >&2; exit 255\n')
    assert result.returncode != 0 and "no manifest written" in result.stderr
    assert os.listdir(tmp_path) == ["bin"]  # neither the output nor the temporary file
    (tmp_path / "slack_manifest.rendered.yaml").write_text("previous: good\n")
    assert make("manifest", tmp_path, "exit 0\n").returncode != 0  # success but nothing printed
    assert (tmp_path / "slack_manifest.rendered.yaml").read_text() == "previous: good\n"
    ok = make("manifest", tmp_path, 'echo "display_information:"; echo "  name: TeamBot"\n')
    assert ok.returncode == 0 and "wrote slack_manifest.rendered.yaml" in ok.stdout
    assert (tmp_path / "slack_manifest.rendered.yaml").read_text() == "display_information:\n  name: TeamBot\n"
    assert sorted(os.listdir(tmp_path)) == ["bin", "slack_manifest.rendered.yaml"]


def test_deploy_runs_pulumi_up_from_the_project_root_without_pythonpath(tmp_path):
    """The dynamic providers import `infra` from the program directory (the root): no PYTHONPATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "pulumi").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    fresh = [f"VENV={tmp_path}/venv", f"POLICY_VENV={tmp_path}/policy"]  # as a fresh clone: install runs
    dry = subprocess.run(
        ["make", "-n", "-s", "-C", str(REPO), "deploy", *fresh], capture_output=True, text=True, env=env, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.strip().splitlines()
    assert lines[-1] == "pulumi up" and "PYTHONPATH" not in dry.stdout
    assert any("infra/policy/requirements.txt" in line for line in lines)  # install also makes the pack's venv


def test_make_test_installs_only_when_a_requirements_file_changed(tmp_path):
    """`make test` runs `install`, which is a stamp: with every requirements file older than it,
    nothing is installed (no package index); a newer one installs again."""
    import time

    venv, policy = tmp_path / "venv", tmp_path / "policy"
    for python in (venv / "bin" / "python", policy / "bin" / "python"):
        python.parent.mkdir(parents=True)
        python.write_text("")
    stamp = venv / ".installed"
    stamp.write_text("")
    future = time.time() + 3600  # newer than any file of the checkout
    os.utime(stamp, (future, future))

    def planned():
        run = subprocess.run(
            ["make", "-n", "-C", str(REPO), "test", f"VENV={venv}", f"POLICY_VENV={policy}", "PY=python3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert "pip install" not in planned() and "pytest" in planned()
    os.utime(stamp, (0, 0))  # older than requirements.txt: as after an edit of it
    assert "pip install -q -r requirements.txt" in planned()
