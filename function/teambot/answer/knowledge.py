"""The team's documents: each channel's own OpenAI vector store, what goes into it, and the hosted
`file_search` tool that answers from it.

  * `channel_vector_store(ctx, team, channel)`: the channel's store id, created on first use
    (vector_stores.create) and kept in the usage store (a `k_<team>_<channel>` document beside the
    usage counters, without the TTL field, so it never expires; MemoryKnowledgeStore locally).
  * `add_files(ctx, job, files)`: Slack files -> OpenAI files (purpose `assistants`) attached to
    that store, through the same caps (MAX_FILES, MAX_FILE_BYTES, supported types) and the same
    safe download (file_download.py: the token only to Slack's file host) as conversation files.
  * `list_files(ctx, store_id)`: what is in it (file names from the attributes we attach).
  * `file_search_tools(settings, profile, job)`: the `file_search` tool with the profile's
    vector store ids plus the channel's own store, when the profile has `file_search`.
  * `citation_line(annotations)`: file_citation annotations -> "From: `a.pdf`, `b.md`".
Nothing here logs names or content: counts and ids only.

Why one module of ~310 lines: the channel's store (its id in Firestore or memory), adding
files to it and the file_search tool are one feature whose parts must agree on ids and caps.
"""

from __future__ import annotations

import threading
from typing import Protocol

from teambot.answer.file_download import DownloadRefused
from teambot.answer.file_text import PDF, TEXT, kind_of
from teambot.answer.files import display_name, slack_fetcher  # noqa: F401 (slack_fetcher: part of this module's API)
from teambot.core.profiles import ChannelProfile

# file_search accepts text, Markdown, code, PDF, Word and PowerPoint (OpenAI "File search" guide,
# supported file types): our TEXT/PDF kinds plus the Office documents.
OFFICE_FILETYPES = frozenset({"docx", "pptx", "doc"})
KIND = "knowledge"  # the document's `kind` in the usage collection
NOT_EDITOR = (
    "Only the people this channel's profile names as knowledge editors can add files to its "
    "knowledge. Ask a workspace admin if you need to."
)
NOT_ENABLED = "This channel has no knowledge set up (its profile has no `file_search`). Ask a workspace admin."
NO_FILES = "That message has no files to add."


def knowledge_doc_id(team: str, channel: str) -> str:
    return f"k_{team}_{channel}"


class KnowledgeStore(Protocol):
    def get(self, team: str, channel: str) -> str | None: ...

    def put(self, team: str, channel: str, store_id: str) -> None: ...

    def put_if_absent(self, team: str, channel: str, store_id: str) -> str:
        """Keep `store_id` unless the channel has one already; returns the one kept."""


class MemoryKnowledgeStore:
    def __init__(self):
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, team: str, channel: str) -> str | None:
        with self._lock:
            return self._ids.get((team, channel))

    def put(self, team: str, channel: str, store_id: str) -> None:
        with self._lock:
            self._ids[(team, channel)] = store_id

    def put_if_absent(self, team: str, channel: str, store_id: str) -> str:
        with self._lock:
            return self._ids.setdefault((team, channel), store_id)


class FirestoreKnowledgeStore:
    """The same id in Firestore (USAGE_STORE=firestore), in the usage collection: one document per
    channel, no `expires_at`, so the usage TTL policy leaves it alone."""

    def __init__(self, *, database: str = "(default)", project: str | None = None, timeout_s: float = 5.0):
        self.database, self.project, self.timeout_s = database, project, timeout_s

    def _doc(self, team: str, channel: str):
        from teambot.usage.firestore import firestore_client
        from teambot.usage.store import COLLECTION

        return firestore_client(self.project, self.database).collection(COLLECTION).document(knowledge_doc_id(team, channel))

    def get(self, team: str, channel: str) -> str | None:
        snap = self._doc(team, channel).get(retry=None, timeout=self.timeout_s)
        return (snap.to_dict() or {}).get("vector_store_id") if snap.exists else None

    def put(self, team: str, channel: str, store_id: str) -> None:
        self._doc(team, channel).set(self._fields(team, channel, store_id), retry=None, timeout=self.timeout_s)

    @staticmethod
    def _fields(team: str, channel: str, store_id: str) -> dict:
        return {"kind": KIND, "team": team, "channel": channel, "vector_store_id": store_id}

    def put_if_absent(self, team: str, channel: str, store_id: str) -> str:
        """`create` fails when the document exists: two instances creating a store at once keep one."""
        from google.api_core.exceptions import AlreadyExists, Conflict

        try:
            self._doc(team, channel).create(self._fields(team, channel, store_id), retry=None, timeout=self.timeout_s)
            return store_id
        except (AlreadyExists, Conflict):
            return self.get(team, channel) or store_id


_stores: dict[tuple, KnowledgeStore] = {}
_stores_lock = threading.Lock()
_create_lock = threading.Lock()


def knowledge_store(settings) -> KnowledgeStore:
    """One store per process and configuration (the memory store must outlive a job)."""
    key = (settings.usage_store, settings.firestore_database)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = (
                FirestoreKnowledgeStore(database=settings.firestore_database)
                if settings.usage_store == "firestore"
                else MemoryKnowledgeStore()
            )
        return _stores[key]


def _openai(ctx):
    return ctx.model._openai()  # the answer path's client: same key, base URL, timeouts, key rotation


def channel_vector_store(ctx, team: str, channel: str, *, create: bool = True) -> str | None:
    """The channel's vector store id; created (and remembered) on first use when `create`."""
    store = knowledge_store(ctx.settings)
    found = store.get(team, channel)
    if found or not create:
        return found
    with _create_lock:  # two "Add to knowledge" at once in one process: one store
        found = store.get(team, channel)
        if found:
            return found
        client = _openai(ctx)
        created = client.vector_stores.create(
            name=f"Slack channel {channel}", metadata={"slack_team": team, "slack_channel": channel}
        )
        kept = store.put_if_absent(team, channel, created.id)
        if kept != created.id:  # another instance created one at the same time: use its, drop ours
            try:
                client.vector_stores.delete(created.id)
            except Exception:
                pass  # an empty store left over; it costs nothing
        return kept


def accepted(file: dict) -> bool:
    return kind_of(file) in (TEXT, PDF) or (file.get("filetype") or "").lower() in OFFICE_FILETYPES


def read_slack_files(
    ctx,
    job,
    files: list[dict],
    allow,
    *,
    note_unsupported: bool = True,
) -> tuple[list[tuple[dict, bytes]], list[str]]:
    """(file, bytes) of the files that pass the caps and `allow(file)`, plus one note per skip
    (a file `allow` refuses is skipped without a note when not `note_unsupported`)."""
    settings, fetch = ctx.settings, slack_fetcher(ctx)
    out, notes = [], []
    for file in files:
        if file.get("file_access") == "check_file_info" or not file.get("url_private"):
            try:
                file = {**file, **ctx.slack.call("files_info", team=job.team, file=file["id"])["file"]}
            except Exception:
                notes.append(f"Skipped {display_name(file)}: its details couldn't be read.")
                continue
        name, size = display_name(file), file.get("size")
        if file.get("mode") in ("tombstone", "hidden_by_limit") or not file.get("url_private"):
            notes.append(f"Skipped {name}: not available to me.")
        elif not allow(file):
            if note_unsupported:
                notes.append(f"Skipped {name}: unsupported file type.")
        elif len(out) >= settings.max_files:
            notes.append(f"Skipped {name}: only {settings.max_files} files are taken at a time.")
        elif isinstance(size, int) and size > settings.max_file_bytes:
            notes.append(f"Skipped {name}: too large ({size / 1e6:.1f} MB, limit {settings.max_file_bytes / 1e6:.1f} MB).")
        else:
            try:
                out.append((file, fetch(file, settings.max_file_bytes)))
            except DownloadRefused as exc:
                notes.append(f"Skipped {name}: {exc}.")
    return out, notes


def add_files(ctx, job, files: list[dict]) -> tuple[list[str], list[str]]:
    """Add `files` (Slack file objects) to the channel's store: (names added, notes on skipped)."""
    read, notes = read_slack_files(ctx, job, files, accepted)
    if not read:
        return [], notes
    store_id = channel_vector_store(ctx, job.team, job.channel)
    client, added = _openai(ctx), []
    for file, data in read:
        name = str(file.get("name") or file.get("title") or "file")[:200]
        try:
            uploaded = client.files.create(file=(name, data), purpose="assistants")
            client.vector_stores.files.create(
                store_id,
                file_id=uploaded.id,
                attributes={"filename": name, "slack_file": str(file.get("id") or ""), "added_by": job.user},
            )
        except Exception:
            notes.append(f"Skipped {display_name(file)}: OpenAI did not accept it.")
            continue
        added.append(display_name(file))
    return added, notes


def list_files(ctx, store_id: str, limit: int = 100) -> list[dict]:
    """[{"filename", "added_by", "status"}] of the store, newest first (at most `limit`)."""
    page = _openai(ctx).vector_stores.files.list(store_id, limit=min(limit, 100), order="desc")
    out = []
    for item in page.data[:limit]:
        attributes = item.attributes or {}
        out.append(
            {
                "filename": str(attributes.get("filename") or item.id),
                "added_by": str(attributes.get("added_by") or ""),
                "status": item.status,
            }
        )
    return out


def is_editor(profile: ChannelProfile, user: str) -> bool:
    return bool(profile.file_search) and user in profile.file_search.editors


def refusal(ctx, job, *, editing: bool) -> str | None:
    """Why this person may not use the channel's knowledge (the shortcuts' shared guard), or None."""
    from teambot.core import logs
    from teambot.core.access import NOT_ALLOWED, allowed

    profile = ctx.settings.profile(job.channel)
    if not allowed(ctx.settings, job):
        return NOT_ALLOWED
    if profile.file_search is None:
        return NOT_ENABLED
    if editing and not is_editor(profile, job.user):
        logs.info("knowledge", outcome="not_editor", channel=job.channel, user=job.user)
        return NOT_EDITOR
    return None


def file_search_tools(settings, profile: ChannelProfile, job=None, secrets=None) -> list[dict]:
    """A model_tools provider: the hosted `file_search` tool over the profile's stores and the
    channel's own one (when it exists), for a profile with `file_search`."""
    if profile.file_search is None:
        return []
    ids = list(profile.file_search.vector_store_ids)
    if job is not None:
        try:
            own = knowledge_store(settings).get(job.team, job.channel)
        except Exception:  # the store is unreachable: answer from the configured stores alone
            own = None
        if own and own not in ids:
            ids.append(own)
    return [{"type": "file_search", "vector_store_ids": ids}] if ids else []


def cited_files(annotations: list[dict]) -> list[str]:
    """The display names of the files that file_citation annotations cite, each once, in order."""
    names = []
    for annotation in annotations:
        if isinstance(annotation, dict) and annotation.get("type") == "file_citation":
            name = display_name({"name": annotation.get("filename") or annotation.get("file_id")})
            if name not in names:
                names.append(name)
    return names


def citation_line(annotations: list[dict]) -> str:
    """file_citation annotations -> one "From" line naming each cited file once, in order."""
    names = cited_files(annotations)
    return "From: " + ", ".join(names) if names else ""


# -- wiring into the Responses API path (model_tools.py providers, responses_stream.py hooks) ----
def _register() -> None:
    from teambot.answer.responses_stream import ITEM_HOOKS, on_item, short
    from teambot.answer.tools import tool_provider
    from teambot.core.steps import COMPLETE, ERROR, IN_PROGRESS, Step

    tool_provider(file_search_tools)

    @on_item("file_search_call")
    def _file_search_step(parser, item: dict, done: bool):
        queries = "; ".join(q for q in item.get("queries") or () if isinstance(q, str))
        step_id, title = item.get("id") or "file_search", "Searching the channel's documents"
        if not done:
            return (Step(step_id, title, IN_PROGRESS, details=short(queries)),)
        parser.count_tool_call("file_search")
        if item.get("status") in ("failed", "incomplete"):
            return (Step(step_id, title, ERROR, details=short(queries), output="failed"),)
        results = item.get("results")
        found = f"{len(results)} passages" if isinstance(results, list) else ""
        return (Step(step_id, title, COMPLETE, details=short(queries), output=found),)

    previous = ITEM_HOOKS.get("message")

    @on_item("message")
    def _from_line(parser, item: dict, done: bool):
        """After a message that cites the channel's files: "From: `a.pdf`, `b.md`" (each file
        named once per answer)."""
        out = list(previous(parser, item, done) or ()) if previous else []
        if not done:
            return out
        shown = parser.__dict__.setdefault("files_cited", [])
        annotations = [a for part in item.get("content") or () for a in part.get("annotations") or ()]
        new = [name for name in cited_files(annotations) if name not in shown]
        shown.extend(new)
        if new:
            out.append("\n\n_From: " + ", ".join(new) + "_")
        return out


_register()
