"""Callback ids of the message shortcuts. Public contract: slack_manifest.yaml uses the same ids
(tests/test_manifest.py keeps the two in step)."""

STOP_GENERATION = "stop_generation"
DELETE_MESSAGE = "delete_message"
