"""Enterprise Grid files (issue 18): a url_private download redirected to files-origin.slack.com is
followed by hand, with the token, only to Slack's file hosts over https; a redirect to any other
host is "not authorized" and that host never sees the token."""

from __future__ import annotations

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.server import LoopbackServer
from tests.harness import dm, wait_for


class Elsewhere(LoopbackServer):
    """Another host: records the Authorization header of every request it gets."""

    def __init__(self):
        self.seen: list[str | None] = []

    def handle(self, req, verb):
        self.seen.append(req.headers.get("Authorization"))
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Content-Length", "6")
        req.end_headers()
        req.wfile.write(b"secret")


def share(bot, slack, ts, text):
    return bot.post_json(dm(text, ts, subtype="file_share", files=slack.messages[ts]["files"]))


def test_a_redirect_to_the_file_origin_is_followed_with_the_token(bot, slack, model):
    slack.origin_redirect = True
    ts = slack.add_file(
        "D1", "notes.txt", b"the launch is on tuesday", mimetype="text/plain", filetype="text", text="when is the launch?"
    )
    assert share(bot, slack, ts, "when is the launch?").status == 200
    wait_for(finished(slack, "D1", ts), 15)
    assert [(d["host"], d["authorized"], d["status"]) for d in slack.downloads] == [
        ("/files-pri/", True, 302),
        ("/files-origin/", True, 200),
    ]
    assert "the launch is on tuesday" in str(model.requests[0].body["messages"])


def test_a_redirect_to_another_host_gets_no_token_and_no_request(bot, slack, model):
    elsewhere = Elsewhere().start()
    try:
        slack.foreign_redirect = elsewhere.url + "/steal"
        ts = slack.add_file("D1", "notes.txt", b"private words", mimetype="text/plain", filetype="text", text="read this")
        assert share(bot, slack, ts, "read this").status == 200
        answer = wait_for(finished(slack, "D1", ts), 15)
        assert elsewhere.seen == []  # not even a request without the token
        assert "private words" not in str(model.requests[0].body["messages"])
        assert "refused" in answer[-1]["text"] or "couldn't" in answer[-1]["text"].lower()
    finally:
        elsewhere.stop()


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://files.slack.com/files-pri/T1-F1/a.txt", True),
        ("https://files-origin.slack.com/files-pri/T1-F1/a.txt", True),
        ("http://files-origin.slack.com/files-pri/T1-F1/a.txt", False),
        ("https://files-origin.slack.com:8443/x", False),
        ("https://files-origin.slack.com.evil.example/x", False),
        ("https://user@files.slack.com/x", False),
        ("https://acme.slack.com/?redir=/files-pri/x", False),
    ],
)
def test_only_slacks_file_hosts_over_https_get_the_token(url, ok):
    from teambot.answer.file_download import DownloadRefused, allowed_hosts, check_url

    hosts = allowed_hosts("https://slack.com/api/")
    if ok:
        check_url(url, hosts)
    else:
        with pytest.raises(DownloadRefused):
            check_url(url, hosts)
