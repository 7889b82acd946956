"""Files in a conversation, in-process: kinds, extraction, caps, budget, notes, the host check and
the bounded download (against the fake Slack's real HTTP route)."""

import pytest

from teambot.answer.file_download import DownloadRefused, allowed_hosts, check_url, download
from teambot.answer.file_text import IMAGE, PDF, TEXT, Unreadable, decode_text, image_data_url, kind_of, pdf_text
from teambot.answer.files import IMAGE_TOKENS, FileContext, attach, gather, shared_files
from tests.sample_files import pdf, png


def file(name, mimetype, filetype, size=100, **extra):
    return {
        "id": "F" + name,
        "name": name,
        "mimetype": mimetype,
        "filetype": filetype,
        "size": size,
        "url_private": f"https://files.slack.com/files-pri/T1-F{name}/{name}",
        **extra,
    }


def run(pairs, contents, *, budget=10_000, max_files=8, max_bytes=1_000_000, vision=True):
    fetched = []

    def fetch(f, limit):
        fetched.append(f["name"])
        data = contents[f["name"]]
        if len(data) > limit:
            raise DownloadRefused("too large")
        return data

    out = gather(
        pairs, budget_tokens=budget, max_files=max_files, max_bytes=max_bytes, vision=vision, info=lambda file_id: {}, fetch=fetch
    )
    return out, fetched


def test_kinds_follow_slack_file_objects():
    assert kind_of({"mimetype": "image/png"}) == IMAGE and kind_of({"filetype": "webp"}) == IMAGE
    assert kind_of({"mimetype": "application/pdf"}) == PDF
    for f in (
        {"mimetype": "text/plain"},
        {"mimetype": "text/csv"},
        {"mimetype": "application/json"},
        {"filetype": "markdown"},
        {"filetype": "python", "mimetype": "application/octet-stream"},
    ):
        assert kind_of(f) == TEXT, f
    assert kind_of({"mimetype": "application/zip", "filetype": "zip"}) is None
    assert kind_of({"mimetype": "image/tiff", "filetype": "tiff"}) is None


def test_extraction_images_text_pdf():
    assert image_data_url(png()).startswith("data:image/png;base64,iVBOR")
    with pytest.raises(Unreadable):
        image_data_url(b"<html>not an image</html>")  # a mislabelled file never goes as an image
    assert decode_text(b"a,b\n1,2\n") == "a,b\n1,2\n"
    with pytest.raises(Unreadable):
        decode_text(b"\x00\x01binary")
    assert pdf_text(pdf("Quarterly revenue grew 12 percent"), 1000) == "Quarterly revenue grew 12 percent"
    with pytest.raises(Unreadable):
        pdf_text(b"%PDF-1.4 garbage", 1000)
    many = pdf(*[f"page {i} " + "x" * 50 for i in range(40)])
    assert len(pdf_text(many, 200)) < 400  # stops reading pages once it has enough


def test_newest_first_caps_budget_and_one_note_per_skipped_file():
    messages = [
        {"ts": "1.0", "user": "U1", "files": [file("old.txt", "text/plain", "text")]},
        {"ts": "2.0", "user": "UBOT", "bot_id": "BBOT", "files": [file("bot.txt", "text/plain", "text")]},
        {
            "ts": "3.0",
            "user": "U2",
            "files": [
                file("big.csv", "text/csv", "csv", size=5_000_000),
                file("a.zip", "application/zip", "zip"),
                file("pic.png", "image/png", "png"),
            ],
        },
        {"ts": "4.0", "user": "U1", "files": [file("later.txt", "text/plain", "text")]},  # after the question
    ]
    pairs = shared_files(messages, "3.0", ("UBOT", "BBOT"))
    assert [f["name"] for _, f in pairs] == ["big.csv", "a.zip", "pic.png", "old.txt"]
    out, fetched = run(pairs, {"pic.png": png(), "old.txt": b"hello " * 10})
    assert fetched == ["pic.png", "old.txt"]  # the oversized and the unknown ones were never fetched
    assert [p["type"] for p in out.parts] == ["image_url", "text"]
    assert out.parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "hello hello" in out.parts[1]["text"] and "<@U1>" in out.parts[1]["text"]
    assert out.notes == ["Skipped `big.csv`: too large (5.0 MB, limit 1.0 MB).", "Skipped `a.zip`: unsupported file type."]


def test_count_cap_vision_off_and_text_trimmed_to_the_budget():
    pairs = [({"ts": "1.0", "user": "U1"}, file(f"f{i}.txt", "text/plain", "text")) for i in range(3)]
    out, fetched = run(pairs, {f"f{i}.txt": b"x" for i in range(3)}, max_files=2)
    assert fetched == ["f0.txt", "f1.txt"] and out.notes == ["Skipped `f2.txt`: only 2 files are read per answer."]

    out, fetched = run([({"ts": "1.0"}, file("p.png", "image/png", "png"))], {"p.png": png()}, vision=False)
    assert fetched == [] and out.parts == [] and "not read" in out.notes[0]

    huge = b"line of a log\n" * 20_000  # ~70k tokens
    out, _ = run([({"ts": "1.0"}, file("app.log", "text/plain", "text"))], {"app.log": huge}, budget=1_000)
    assert out.tokens <= 1_000 and out.notes == ["`app.log` was trimmed to fit the context budget."]
    assert out.parts[0]["text"].endswith("[…trimmed]")

    out, _ = run([({"ts": "1.0"}, file("p.png", "image/png", "png"))], {"p.png": png()}, budget=IMAGE_TOKENS - 1)
    assert out.parts == [] and "context budget" in out.notes[0]


def test_a_failing_file_is_skipped_never_raised():
    def boom(f, limit):
        raise RuntimeError("library bug")

    out = gather(
        [({"ts": "1.0"}, file("x.pdf", "application/pdf", "pdf"))],
        budget_tokens=1000,
        max_files=5,
        max_bytes=10**6,
        vision=True,
        info=lambda i: {},
        fetch=boom,
    )
    assert out.parts == [] and out.notes == ["Skipped `x.pdf`: it couldn't be read."]


def test_attach_puts_files_on_the_question_as_content_parts():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "what is in the file?"},
    ]
    files = FileContext(parts=[{"type": "text", "text": "File `a.txt`:\nabc"}], notes=["Skipped `b.zip`: unsupported file type."])
    out = attach(messages, files)
    assert out[:3] == messages[:3]
    assert out[3]["content"][0] == {"type": "text", "text": "what is in the file?"}
    assert out[3]["content"][1]["text"].startswith("File `a.txt`")
    assert "b.zip" in out[3]["content"][2]["text"]
    assert attach(messages, FileContext()) is messages


def test_the_token_goes_only_to_slacks_file_host():
    hosts = allowed_hosts("https://slack.com/api/")
    check_url("https://files.slack.com/files-pri/T1-F1/a.png", hosts)
    for url in (
        "http://files.slack.com/files-pri/T1-F1/a.png",
        "https://files.slack.com.evil.io/x",
        "https://evil.io/files-pri/T1-F1/a.png",
        "https://files.slack.com:8443/x",
        "file:///etc/passwd",
        "",
    ):
        with pytest.raises(DownloadRefused):
            check_url(url, hosts)
    test_hosts = allowed_hosts("http://127.0.0.1:5555/api/")
    check_url("http://127.0.0.1:5555/files-pri/T1-F1/a.png", test_hosts)
    with pytest.raises(DownloadRefused):
        check_url("http://127.0.0.1:5556/files-pri/T1-F1/a.png", test_hosts)  # another port: another server


def test_download_needs_the_token_and_stops_at_the_byte_limit(slack):
    ts = slack.add_file("C1", "data.csv", b"a,b\n" * 10, mimetype="text/csv", filetype="csv")
    small = slack.messages[ts]["files"][0]
    hosts = allowed_hosts(slack.url + "/api/")
    assert download(small["url_private"], "xoxb-test", hosts=hosts, max_bytes=1000) == b"a,b\n" * 10
    with pytest.raises(DownloadRefused, match="refused"):
        download(small["url_private"], "xoxb-wrong", hosts=hosts, max_bytes=1000)
    assert [d["status"] for d in slack.downloads] == [200, 302]

    content = b"y" * 30_000_000  # declared small (sizes can lie), 30 MB served
    ts = slack.add_file("C1", "liar.txt", content, mimetype="text/plain", filetype="text", size=10)
    liar = slack.messages[ts]["files"][0]
    with pytest.raises(DownloadRefused, match="too large"):
        download(liar["url_private"], "xoxb-test", hosts=hosts, max_bytes=100_000)
    # Content-Length says 30 MB: refused before the body is read; at most socket buffers went out.
    assert slack.bytes_served.get(liar["id"], 0) < len(content) // 2

    slack.omit_content_length = True  # no length to refuse on: the streamed read itself must stop
    slack.bytes_served[liar["id"]] = 0
    with pytest.raises(DownloadRefused, match="too large"):
        download(liar["url_private"], "xoxb-test", hosts=hosts, max_bytes=100_000)
    assert slack.bytes_served.get(liar["id"], 0) < len(content) // 2
