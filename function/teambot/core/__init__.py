"""teambot.core."""
