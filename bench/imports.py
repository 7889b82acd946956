"""Import cost of the ack path vs the worker path, each in a fresh interpreter (median of 5),
and the size of the deployed source archive."""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import zipfile

from bench.common import ROOT

SNIPPETS = {
    "functions_framework (baseline)": "import functions_framework",
    "ack path (main.py)": "import functions_framework, main",
    "worker path (+ worker, openai)": "import functions_framework, main, teambot.answer.worker, teambot.answer.model",
}


def wall_ms(code: str) -> float:
    # cwd function/: `main` imports as the runtime imports it (the source directory is on sys.path)
    script = f"import time; t = time.perf_counter(); {code}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT / "function", capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def archive_bytes() -> int:
    from infra.source_archive import source_files

    root = ROOT / "function"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in source_files(root):
            zf.write(path, path.relative_to(root).as_posix())
    return len(buffer.getvalue())


def openai_on_ack_path() -> bool:
    script = "import sys; import functions_framework, main; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT / "function", capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def run(k: int = 5) -> dict:
    return {
        "import_ms": {name: statistics.median(wall_ms(code) for _ in range(k)) for name, code in SNIPPETS.items()},
        "openai_on_ack_path": openai_on_ack_path(),
        "archive_bytes": archive_bytes(),
    }


if __name__ == "__main__":
    print(run(3))
