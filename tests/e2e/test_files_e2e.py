"""Files shared in a conversation, end to end: the function downloads them from the fake Slack
(auth checked, bytes counted) and the model fake records what it received."""

import json

from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan
from tests.harness import dm, mention, wait_for
from tests.sample_files import pdf, png


def share(bot, slack, ts, text="", channel="D1"):
    """Post the file_share message event of the message `ts` (as Slack sends it, with its files)."""
    message = slack.messages[ts]
    return bot.post_json(dm(text, ts, channel=channel, subtype="file_share", files=message["files"]))


def user_parts(model, index=0):
    content = model.requests[index].body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return content


def test_an_image_reaches_the_model_as_an_image_part(bot, slack, model):
    image = png()
    ts = slack.add_file("D1", "chart.png", image, mimetype="image/png", filetype="png", text="what does this show?")
    assert share(bot, slack, ts, "what does this show?").status == 200
    answer = wait_for(finished(slack, "D1", ts))
    parts = user_parts(model)
    assert parts[0] == {"type": "text", "text": "what does this show?"}
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 1 and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert [d["authorized"] for d in slack.downloads] == [True]
    assert answer[-1]["text"] == model.default_plan.text  # nothing skipped: no note
    logs = bot.logs()
    assert "chart.png" not in logs and "files-pri" not in logs and "what does this show" not in logs
    record = next(r for r in bot.log_records() if r.get("message") == "files")
    assert record["images"] == 1 and record["skipped"] == 0


def test_a_text_file_and_a_pdf_arrive_as_text(bot, slack, model):
    root = slack.add_message("C1", "<@UBOT> compare these two", user="U1")
    slack.add_file(
        "C1",
        "sales.csv",
        b"region,revenue\nnorth,120\nsouth,95\n",
        mimetype="text/csv",
        filetype="csv",
        thread_ts=root,
        user="U2",
    )
    slack.add_file(
        "C1",
        "report.pdf",
        pdf("Quarterly revenue grew 12 percent"),
        mimetype="application/pdf",
        filetype="pdf",
        thread_ts=root,
        user="U2",
    )
    ts = slack.add_message("C1", "<@UBOT> which region did better?", thread_ts=root)
    assert bot.post_json(mention("<@UBOT> which region did better?", ts, thread_ts=root)).status == 200
    wait_for(finished(slack, "C1", root))
    texts = [p["text"] for p in user_parts(model) if p["type"] == "text"]
    assert texts[0].endswith("which region did better?")
    assert "File `report.pdf` (shared by <@U2>):\nQuarterly revenue grew 12 percent" in texts
    assert any("north,120" in t and "sales.csv" in t for t in texts)
    assert texts.index(next(t for t in texts if "report.pdf" in t)) < texts.index(next(t for t in texts if "sales.csv" in t))
    assert "Quarterly" not in bot.logs() and "north,120" not in bot.logs()


def test_oversized_and_unknown_files_are_skipped_with_a_note_and_never_downloaded(start_bot, slack, model):
    bot = start_bot(MAX_FILE_BYTES="100000")
    root = slack.add_message("D1", "look at these")
    big = slack.add_file("D1", "huge.log", b"z" * 400_000, mimetype="text/plain", filetype="text", thread_ts=root)
    slack.add_file("D1", "archive.zip", b"PK\x03\x04", mimetype="application/zip", filetype="zip", thread_ts=root)
    slack.add_file("D1", "notes.md", b"# Notes\nship on friday\n", mimetype="text/markdown", filetype="markdown", thread_ts=root)
    ts = slack.add_message("D1", "summarize the files", thread_ts=root)
    bot.post_json(dm("summarize the files", ts, thread_ts=root))
    answer = wait_for(finished(slack, "D1", root))[-1]["text"]
    assert answer.startswith(model.default_plan.text)
    assert "_Skipped `huge.log`: too large (0.4 MB, limit 0.1 MB)._" in answer
    assert "_Skipped `archive.zip`: unsupported file type._" in answer
    assert answer.count("Skipped") == 2
    big_id = slack.messages[big]["files"][0]["id"]
    assert slack.bytes_served.get(big_id, 0) == 0 and all(d["file"] != big_id for d in slack.downloads)
    texts = [p["text"] for p in user_parts(model) if p["type"] == "text"]
    assert any("ship on friday" in t for t in texts)
    assert any(t.startswith("Not read:") and "huge.log" in t for t in texts)  # the model knows too


def test_a_file_larger_than_it_claims_is_cut_and_the_answer_still_comes(start_bot, slack, model):
    bot = start_bot(MAX_FILE_BYTES="200000")
    slack.omit_content_length = True  # only the byte limit of the streamed read can stop it
    content = b"spam line\n" * 3_000_000  # 30 MB, declared as 1 kB
    ts = slack.add_file("D1", "liar.txt", content, mimetype="text/plain", filetype="text", text="read this", size=1000)
    share(bot, slack, ts, "read this")
    answer = wait_for(finished(slack, "D1", ts), timeout=20)[-1]["text"]
    assert "_Skipped `liar.txt`: too large._" in answer
    file_id = slack.messages[ts]["files"][0]["id"]
    assert slack.bytes_served[file_id] < len(content) // 2
    assert len(json.dumps(model.requests[0].body)) < 100_000


def test_vision_off_sends_no_image_and_says_so(start_bot, slack, model):
    bot = start_bot(VISION_ENABLED="false")
    ts = slack.add_file("D1", "screenshot.png", png(), mimetype="image/png", filetype="png", text="what is this?")
    share(bot, slack, ts, "what is this?")
    answer = wait_for(finished(slack, "D1", ts))[-1]["text"]
    assert "_Image `screenshot.png` was not read: image reading is turned off._" in answer
    assert "image_url" not in json.dumps(model.requests[0].body)
    assert slack.downloads == []


def test_a_file_stub_is_completed_with_files_info(bot, slack, model):
    ts = slack.add_file(
        "D1", "config.json", b'{"retries": 3}', mimetype="application/json", filetype="json", text="is this valid?", stub=True
    )
    share(bot, slack, ts, "is this valid?")
    wait_for(finished(slack, "D1", ts))
    assert slack.count("files.info") == 1
    assert any('{"retries": 3}' in p.get("text", "") for p in user_parts(model))


def test_files_count_against_the_context_budget(start_bot, slack, model):
    bot = start_bot(MAX_CONTEXT_TOKENS="2000")
    model.default_plan = Plan(tokens=["ok"])
    ts = slack.add_file(
        "D1", "big.txt", ("word " * 40_000).encode(), mimetype="text/plain", filetype="text", text="what is in it?"
    )
    share(bot, slack, ts, "what is in it?")
    answer = wait_for(finished(slack, "D1", ts))[-1]["text"]
    assert "_`big.txt` was trimmed to fit the context budget._" in answer
    sent = model.requests[0].body["messages"]
    chars = sum(
        len(p.get("text", ""))
        for m in sent
        for p in (m["content"] if isinstance(m["content"], list) else [{"text": m["content"]}])
    )
    assert chars // 4 <= 2000


def test_a_file_url_off_slacks_file_host_is_refused_and_the_token_not_sent(bot, slack, model):
    ts = slack.add_file("D1", "notes.txt", b"secret plans", mimetype="text/plain", filetype="text", text="read it")
    elsewhere = slack.url.replace("127.0.0.1", "localhost") + "/files-pri/T1-F00001/notes.txt"  # another host
    slack.messages[ts]["files"][0]["url_private"] = elsewhere
    share(bot, slack, ts, "read it")
    answer = wait_for(finished(slack, "D1", ts))[-1]["text"]
    assert "_Skipped `notes.txt`: not on Slack's file host._" in answer
    assert slack.downloads == [] and "secret plans" not in json.dumps(model.requests[0].body)
