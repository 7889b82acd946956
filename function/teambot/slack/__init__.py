"""teambot.slack: writing to Slack. The Web API client with rotation and the write budget
(client.py, budget.py, pause.py: Slack's per-workspace tiers, shared across instances), the reply
writers that stream an answer (reply.py: native stream, update, post), the stream's lifetime and
refusals, message marks and blocks, text helpers, the AI panel (ai_panel.py) and agent sessions.

May import: teambot.gcp, teambot.core and slack_sdk. Never the answer side (teambot.answer,
usage, handlers) at runtime; type hints may name teambot.answer.services.Context."""
