"""The Pulumi program's entry point: Pulumi.yaml has no `main:`, so the program directory is the
project root, and this file runs the stack defined in infra/__main__.py.

Why at the root (pulumi/pulumi at 1b5949891b3c, Aug 2026; tests/e2e/test_pulumi_engine.py checks each point):
- The language host (sdk/python/cmd/pulumi-language-python/main.go) resolves `runtime.options.virtualenv`
  against the project root, and runs `python -u -m pulumi_language_python_exec ... <program dir>`,
  which does `runpy.run_path(<program dir>)`: the program directory is sys.path[0].
- The engine starts every plugin, the dynamic provider host included, with its working directory set to
  the program directory (sdk/go/common/resource/plugin/plugin.go `cmd.Dir = pwd`) and passes the runtime
  options as PULUMI_RUNTIME_* variables (provider_plugin.go). The launcher
  (sdk/python/dist/pulumi-resource-pulumi-python) makes a relative PULUMI_RUNTIME_VIRTUALENV absolute
  against *its* working directory ($PWD/.venv) and runs `$VENV/bin/python -u -m pulumi.dynamic`.
- That process (pulumi/dynamic/__main__.py) unpickles each provider with dill from the resource's
  `__provider` input. With `-m`, sys.path[0] is the working directory; nothing else of ours is importable
  (no PYTHONPATH): a provider pickled by reference (class in `infra.slack_app`) loads only if `infra` is
  importable from the working directory.
With `main: infra/` the providers looked for infra/.venv and could not import `infra`
(pulumi/pulumi#7061, #7453). With the program at the root, both processes use <root>/.venv (what
`make install` creates) and run from <root>, where `infra` is a package.
"""

import runpy

program = runpy.run_module("infra", run_name="__main__")
