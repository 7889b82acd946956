"""teambot.ack."""
