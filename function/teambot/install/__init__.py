"""teambot.install: the one-click install of a stack-managed Slack app: GET /slack/install and the
OAuth redirect (routes.py), with a signed, expiring state (oauth_state.py); the bot token it
receives is written to Secret Manager as a new version.

May import: teambot.gcp, teambot.core; slack_sdk only inside the redirect handler."""
