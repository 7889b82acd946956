"""What the model can take from a file: its kind (image, text, PDF or unsupported) and its content
(an image data URL, or text). Pure, no I/O.

Kinds come from Slack's file object (`mimetype`, `filetype`); an image's real format is then
checked from its first bytes, so a mislabelled file is never sent as an image. PDF text is
extracted with pypdf (pure Python, maintained), bounded in pages and characters.
"""

from __future__ import annotations

import base64
import io

IMAGE = "image"
TEXT = "text"
PDF = "pdf"

IMAGE_MIMETYPES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
# Slack `filetype` values of text-like files (plain text, Markdown, CSV, JSON, logs, source code).
TEXT_FILETYPES = frozenset(
    {
        "text",
        "markdown",
        "csv",
        "tsv",
        "json",
        "yaml",
        "xml",
        "html",
        "css",
        "javascript",
        "typescript",
        "python",
        "java",
        "kotlin",
        "go",
        "rust",
        "ruby",
        "php",
        "c",
        "cpp",
        "csharp",
        "swift",
        "scala",
        "shell",
        "sql",
        "diff",
        "dockerfile",
        "ini",
        "toml",
        "log",
        "perl",
        "r",
        "lua",
        "haskell",
        "clojure",
        "elixir",
        "erlang",
        "groovy",
        "matlab",
        "objc",
        "powershell",
        "vb",
        "post",
        "snippet",
    }
)
TEXT_MIMETYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/x-yaml",
        "application/yaml",
        "application/javascript",
        "application/x-sh",
        "application/sql",
        "application/toml",
    }
)
MAX_PDF_PAGES = 300


class Unreadable(Exception):
    """The file is of a supported kind but nothing usable came out of it (short reason)."""


def kind_of(file: dict) -> str | None:
    mimetype = (file.get("mimetype") or "").lower().split(";")[0].strip()
    filetype = (file.get("filetype") or "").lower()
    if mimetype in IMAGE_MIMETYPES or filetype in ("png", "jpg", "jpeg", "gif", "webp"):
        return IMAGE
    if mimetype == "application/pdf" or filetype == "pdf":
        return PDF
    if mimetype.startswith("text/") or mimetype in TEXT_MIMETYPES or filetype in TEXT_FILETYPES:
        return TEXT
    return None


def image_format(data: bytes) -> str | None:
    """png / jpeg / gif / webp from the magic bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_data_url(data: bytes) -> str:
    fmt = image_format(data)
    if fmt is None:
        raise Unreadable("not a PNG, JPEG, GIF or WebP image")
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode()}"


def decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("binary content")
    text = data.decode("utf-8-sig", errors="replace")
    if text.count("\ufffd") > max(16, len(text) // 20):
        raise Unreadable("not UTF-8 text")
    return text


def pdf_text(data: bytes, max_chars: int) -> str:
    """The text of a PDF's pages, in order, stopping once `max_chars` are collected."""
    from pypdf import PdfReader  # imported here: only answers with a PDF pay for it

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("password-protected PDF")
        parts, size = [], 0
        for number, page in enumerate(reader.pages):
            if number >= MAX_PDF_PAGES or size >= max_chars:
                break
            text = (page.extract_text() or "").strip()
            if text:
                parts.append(text)
                size += len(text)
    except Unreadable:
        raise
    except Exception:  # pypdf raises many kinds on malformed input; a bad PDF is only skipped
        raise Unreadable("unreadable PDF") from None
    text = "\n\n".join(parts)
    if not text.strip():
        raise Unreadable("no text in this PDF (scanned?)")
    return text
