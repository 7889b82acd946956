"""One module per Slack input (or family of inputs), each declaring itself with the decorators of
teambot.core.registry. Every module here is imported by registry.load_handlers(): adding one is all
the wiring a new input needs (plus its line in slack_manifest.yaml and its test).

Top-level imports stay light (this package is loaded on the ack path to parse payloads); the
heavy half is imported inside the handler functions."""
