"""teambot.answer."""
