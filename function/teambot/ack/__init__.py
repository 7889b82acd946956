"""teambot.ack: the 3-second path. A signed POST from Slack is verified (signing.py), parsed into a
Job (payloads.py, with the handlers' parse functions), de-duplicated (dedup.py) and handed off
(handoff.py: Cloud Tasks, or a worker thread locally); ingress.py runs those steps and answers 200.
task_auth.py checks the OIDC token of the tasks that come back to /tasks/answer.

May import: teambot.core, teambot.gcp. Never slack_sdk, openai, google.cloud, requests or anything
of the answer side (teambot.answer, slack, usage, handlers): checked by `lint-imports`, and by
tests/e2e/test_ack_path.py in a fresh interpreter for what is imported lazily."""
