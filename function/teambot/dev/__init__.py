"""teambot.dev."""
