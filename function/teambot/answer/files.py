"""Files shared in a conversation -> what the model gets, within caps, plus a short note per file
it does not get.

Newest first: the files of the newest messages are read first and get the budget first.
  * count cap (MAX_FILES) and size cap (MAX_FILE_BYTES): a file declared larger than the cap
    is skipped without being downloaded; the download itself stops at the cap too (sizes can lie);
  * images (PNG, JPEG, GIF, WebP) become image parts (data URLs) when VISION_ENABLED, else a
    note says they were not read; text-like files and PDFs become text;
  * files count against MAX_CONTEXT_TOKENS: the caller gives a token budget, text is trimmed
    to what is left (with a note), an image costs IMAGE_TOKENS;
  * anything that goes wrong with one file (download refused, unreadable PDF) skips that file
    with a note; it never fails the answer.
Pure apart from the two callables it is given (file info and download), so it is tested in-process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from teambot.answer.file_download import DownloadRefused
from teambot.answer.file_text import IMAGE, PDF, Unreadable, decode_text, image_data_url, kind_of, pdf_text
from teambot.core import logs
from teambot.slack.text import CHARS_PER_TOKEN, estimate_tokens

# OpenAI bills a high-detail image by 512 px tiles (85 + 170 per tile): a 1024x1024 image is 765
# tokens. We can't know the size without decoding, so every image counts as this much.
IMAGE_TOKENS = 1000
MIN_TEXT_TOKENS = 50  # less room than this: skip the file rather than send a useless scrap


@dataclass
class FileContext:
    parts: list[dict] = field(default_factory=list)  # OpenAI content parts (text / image_url)
    notes: list[str] = field(default_factory=list)  # one short line per file skipped or trimmed
    tokens: int = 0  # what the parts cost against the context budget
    images: int = 0
    texts: int = 0


def display_name(file: dict) -> str:
    name = str(file.get("name") or file.get("title") or "a file")
    return "`" + name.replace("`", "'").replace("\n", " ")[:80] + "`"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def shared_files(replies: list[dict], upto_ts: str, bot_ids: tuple[str, str]) -> list[tuple[dict, dict]]:
    """(message, file) pairs of the conversation up to `upto_ts`, newest message first."""
    bot_user, bot_id = bot_ids
    found = []
    for message in reversed(replies):
        ts = message.get("ts") or ""
        if ts and upto_ts and float(ts) > float(upto_ts):
            continue
        if (bot_user and message.get("user") == bot_user) or message.get("bot_id"):
            continue
        for file in message.get("files") or []:
            if isinstance(file, dict):
                found.append((message, file))
    return found


def gather(
    pairs: list[tuple[dict, dict]],
    *,
    budget_tokens: int,
    max_files: int,
    max_bytes: int,
    vision: bool,
    info: Callable[[str], dict],
    fetch: Callable[[dict, int], bytes],
) -> FileContext:
    """Read what fits of `pairs` (from shared_files). `info(file_id)` is files.info;
    `fetch(file, max_bytes)` downloads url_private (raises DownloadRefused)."""
    out = FileContext()
    taken = 0
    for message, file in pairs:
        if file.get("file_access") == "check_file_info" or not file.get("url_private"):
            try:  # Slack sends a stub in some events: files.info has the full object
                file = {**file, **info(file["id"])}
            except Exception as exc:
                logs.failed("file_info_failed", exc)
                out.notes.append(f"Skipped {display_name(file)}: its details couldn't be read.")
                continue
        name, kind, size = display_name(file), kind_of(file), file.get("size")
        if file.get("mode") in ("tombstone", "hidden_by_limit") or not file.get("url_private"):
            out.notes.append(f"Skipped {name}: not available to me.")
            continue
        if kind is None:
            out.notes.append(f"Skipped {name}: unsupported file type.")
            continue
        if taken >= max_files:
            out.notes.append(f"Skipped {name}: only {max_files} files are read per answer.")
            continue
        if isinstance(size, int) and size > max_bytes:
            out.notes.append(f"Skipped {name}: too large ({_mb(size)}, limit {_mb(max_bytes)}).")
            continue
        if kind == IMAGE and not vision:
            out.notes.append(f"Image {name} was not read: image reading is turned off.")
            continue
        room = budget_tokens - out.tokens
        if (kind == IMAGE and room < IMAGE_TOKENS) or (kind != IMAGE and room < MIN_TEXT_TOKENS):
            out.notes.append(f"Skipped {name}: no room left in the context budget.")
            continue
        try:
            data = fetch(file, max_bytes)
            if kind == IMAGE:
                url = image_data_url(data)
            else:
                limit = (room - MIN_TEXT_TOKENS // 2) * CHARS_PER_TOKEN
                text = pdf_text(data, limit + 1) if kind == PDF else decode_text(data)
        except DownloadRefused as exc:
            out.notes.append(f"Skipped {name}: {exc}.")
            continue
        except Unreadable as exc:
            out.notes.append(f"Skipped {name}: {exc}.")
            continue
        except Exception as exc:  # a library failure on odd input: this file only
            logs.failed("file_read_failed", exc, file_kind=kind)
            out.notes.append(f"Skipped {name}: it couldn't be read.")
            continue
        taken += 1
        who = f" (shared by <@{message['user']}>)" if message.get("user") else ""
        if kind == IMAGE:
            out.parts.append({"type": "image_url", "image_url": {"url": url}})
            out.tokens += IMAGE_TOKENS
            out.images += 1
            continue
        if len(text) > limit:
            text = text[:limit] + "\n[…trimmed]"
            out.notes.append(f"{name} was trimmed to fit the context budget.")
        body = f"File {name}{who}:\n{text}"
        out.parts.append({"type": "text", "text": body})
        out.tokens += estimate_tokens(body)
        out.texts += 1
    return out


def attach(messages: list[dict], files: FileContext) -> list[dict]:
    """The files go with the newest user turn (the question), as a content list."""
    if not files.parts and not files.notes:
        return messages
    extra = list(files.parts)
    if files.notes:  # so the model does not pretend to have read them
        extra.append({"type": "text", "text": "Not read: " + " ".join(files.notes)})
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            question = messages[index]["content"]
            head = question if isinstance(question, list) else [{"type": "text", "text": question}]
            return messages[:index] + [{**messages[index], "content": head + extra}] + messages[index + 1 :]
    return messages + [{"role": "user", "content": extra}]


def slack_fetcher(ctx):
    """fetch(file, max_bytes) -> bytes: a file's url_private with the bot token, through the safe
    download (Slack's file hosts only); one retry after a rotated token. Shared by conversation
    files and knowledge.py."""
    from teambot.answer.file_download import ACCESS_REFUSED, allowed_hosts, download
    from teambot.slack.client import BOT_TOKEN

    hosts = allowed_hosts(ctx.settings.slack_api_url)

    def fetch(file: dict, max_bytes: int) -> bytes:
        html = (file.get("mimetype") or "").startswith("text/html")
        get = lambda: download(  # noqa: E731
            file["url_private"], ctx.secrets.get(BOT_TOKEN), hosts=hosts, max_bytes=max_bytes, html=html
        )
        try:
            return get()
        except DownloadRefused as refused:
            # A rotated bot token: Slack redirects to sign-in. Re-read it (at most once a minute) and retry once.
            if str(refused) != ACCESS_REFUSED or not ctx.secrets.refresh(BOT_TOKEN, min_interval_s=60):
                raise
            return get()

    return fetch


def read_files(ctx, job, replies: list[dict], budget_tokens: int) -> FileContext:
    """The files of `replies` up to the job's message, read with the bot token (handler wiring)."""
    from teambot.core import logs

    pairs = shared_files(replies, job.message_ts, ctx.slack.identity())
    if not pairs:
        return FileContext()
    fetch = slack_fetcher(ctx)

    def info(file_id: str) -> dict:
        return ctx.slack.call("files_info", team=job.team, file=file_id)["file"]

    settings = ctx.settings
    files = gather(
        pairs,
        budget_tokens=budget_tokens,
        max_files=settings.max_files,
        max_bytes=settings.max_file_bytes,
        vision=settings.vision_enabled,
        info=info,
        fetch=fetch,
    )
    # counts only: never names, URLs or content
    logs.info(
        "files",
        channel=job.channel,
        found=len(pairs),
        images=files.images,
        texts=files.texts,
        skipped=len(files.notes),
        tokens=files.tokens,
    )
    return files
