"""An answer's sources: the model's `url_citation` annotations (Responses API,
openai/types/responses/response_output_text.py AnnotationURLCitation {url, title, start_index,
end_index}) -> one "Sources" line of Markdown links, de-duplicated by URL, in order of first use.
Nothing is invented (only cited URLs appear) and nothing is dropped (every cited URL appears).
Other annotation kinds (file_citation ...) are kept in `others` for their own renderers.
Standard library only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from teambot.core.steps import Source

SOURCES_LABEL = "Sources:"


def _safe_url(url: str) -> str | None:
    """Only http(s) links; characters that would end a Markdown link are percent-encoded."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def _safe_title(title: str, url: str) -> str:
    text = " ".join(str(title or "").split())
    for ch in "[]()<>|*_`~":
        text = text.replace(ch, " ")
    text = " ".join(text.split())
    if not text:
        text = urlsplit(url).netloc
    return text if len(text) <= 80 else text[:79] + "…"


class Citations:
    def __init__(self):
        self._by_url: dict[str, Source] = {}
        self.others: list[dict] = []

    def add(self, annotation) -> None:
        if not isinstance(annotation, dict):
            return
        if annotation.get("type") != "url_citation":
            if annotation not in self.others:
                self.others.append(annotation)
            return
        url = _safe_url(annotation.get("url") or "")
        if url and url not in self._by_url:
            self._by_url[url] = Source(url, _safe_title(annotation.get("title") or "", url))

    def sources(self) -> tuple[Source, ...]:
        return tuple(self._by_url.values())

    def sources_line(self) -> str:
        """ "\\n\\n*Sources:* [title](url) · ..." or "" when nothing was cited."""
        if not self._by_url:
            return ""
        links = " · ".join(f"[{s.title}]({s.url})" for s in self._by_url.values())
        return f"\n\n*{SOURCES_LABEL}* {links}"
