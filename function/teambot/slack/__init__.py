"""teambot.slack."""
