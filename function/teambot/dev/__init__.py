"""teambot.dev: running the bot on a laptop. local.py is `make run` (the HTTP function, as Cloud
Functions runs it); socket_mode.py is `make dev` (Slack's Socket Mode, no public URL).

May import: everything (it composes the App); nothing imports teambot.dev."""
