"""teambot: the Slack <-> OpenAI bot behind the `slack_bot` Cloud Function (function/main.py).

    Slack --signed POST--> ack/ (verify -> dedup -> enqueue -> 200 in ms)
                                | Cloud Tasks (OIDC) / a worker thread locally
                                v
             answer/ (thread context -> model stream (+ tools) -> slack/ reply)

app.py wires one App per process (routes, hand-off, worker). One subpackage per stage or outside
system: core, ack, gcp, slack, answer, usage, install, handlers (one module per Slack input), dev.
Each says in its docstring what it owns and may import; `lint-imports` checks it (pyproject.toml)."""
