"""teambot: the Slack <-> OpenAI bot behind the `slack_bot` Cloud Function."""
