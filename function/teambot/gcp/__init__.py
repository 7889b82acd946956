"""teambot.gcp."""
