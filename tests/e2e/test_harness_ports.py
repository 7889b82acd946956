"""The harness starts each function on a port free_port() found free; between that check and the
function's bind, another test's server may take it (xdist runs tests side by side). The harness
must then notice the listener is not its function and start again on another port, rather than
send the test's requests to that server (seen in CI as a 404 for a signed event)."""

import socket

from tests.harness import SIGNING_SECRET, BotProcess


def test_a_port_taken_by_another_server_is_not_mistaken_for_the_function():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    bot = BotProcess({"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})
    bot.port, bot.url = port, f"http://127.0.0.1:{port}"  # as if free_port() had just returned it
    try:
        bot.start()
        assert bot.port != port and bot.url.endswith(str(bot.port)) and bot.alive()
        answered = bot.post_json({"type": "url_verification", "token": "legacy", "challenge": "c-123"})
        assert answered.status == 200 and b"c-123" in answered.body  # the function, not the other server
    finally:
        bot.stop()
        taken.close()
