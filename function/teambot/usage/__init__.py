"""teambot.usage."""
