"""teambot.core: what every stage shares, in the standard library only: the settings and their
parsers (settings.py, profiles.py, prompts.py, suggested_prompts.py, which the Pulumi program
imports too), the job that travels from ingress to the worker (jobs.py), the registry of Slack
inputs (registry.py), errors, JSON logs, thinking-step values and access rules.

May import: the standard library and teambot.core. Checked by `lint-imports` (pyproject.toml)."""
