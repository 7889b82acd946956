"""teambot.install."""
