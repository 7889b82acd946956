"""Slack files and users for the fake Slack: `files.info`, `users.info` (with locale), and the
`url_private` downloads themselves (a GET route on the same host as the Web API).

Behaviour followed:
  * url_private / url_private_download need `Authorization: Bearer <token>` with files:read
    (Slack Platform Blog, "Important Changes to Files in the Web API", 2015). Without a valid
    token Slack does not answer 401: it redirects to the workspace sign-in page, which is HTML
    (observed and reported by API users, e.g. ErikKalkoken's "fetching a private Slack file"
    gist comments and scli v1.7.2's release notes). The fake answers 302 to a login URL.
  * files.info (https://docs.slack.dev/reference/methods/files.info): `{ok, file}`; unknown id
    -> `file_not_found`. users.info with include_locale=true adds `user.locale`
    (https://docs.slack.dev/reference/methods/users.info); unknown id -> `user_not_found`.
  * Some events carry a file stub `{"id", "file_access": "check_file_info"}` instead of the full
    object; add_file(..., stub=True) puts such a stub in the message.
  * Enterprise Grid: some url_private downloads answer with a redirect to files-origin.slack.com
    (issue 18, from Slack's Grid deployments). `origin_redirect = True` makes every authorized
    download answer 302 to ORIGIN_PATH on the same fake host (the stand-in for files-origin; it
    also checks the token), and `foreign_redirect = URL` answers 302 to that URL (another host,
    which must never see the token).
The fake counts the bytes it serves per file, so a test can prove a file was never downloaded
whole.

External uploads (the bot posting a file), three steps:
  * files.getUploadURLExternal {filename, length} -> {ok, upload_url, file_id}
    (https://docs.slack.dev/reference/methods/files.getUploadURLExternal); `length` and
    `filename` are required (missing_argument otherwise);
  * a POST of the bytes to upload_url, "sent as raw bytes or multipart form encoded"; "Slack will
    return HTTP 200 if the upload is successful" (same page). No token is needed there;
  * files.completeUploadExternal {files: JSON [{id, title}], channel_id, thread_ts,
    initial_comment} (https://docs.slack.dev/reference/methods/files.completeUploadExternal)
    shares them: here a bot message in the thread carrying the file objects. A file id that was
    never uploaded answers `file_not_found` (our assumption of the code for that case).
"""

from __future__ import annotations

import json
import time

FILE_PATH = "/files-pri/"
ORIGIN_PATH = "/files-origin/"
UPLOAD_PATH = "/upload/v1/"
CHUNK = 64 * 1024


class SlackFilesApi:
    """Mixin for FakeSlack: uses its `lock`, `valid_tokens`, `team`, `url`, `calls`, `add_message`."""

    def _files_state(self):
        if not hasattr(self, "_files"):
            self._files: dict[str, dict] = {}  # id -> {"object": file object, "content": bytes}
            self.bytes_served: dict[str, int] = {}
            self.downloads: list[dict] = []  # {"file", "authorized", "status"}
            self.locales: dict[str, str] = {}
        return self._files

    # -- helpers for tests ---------------------------------------------------------------
    def add_file(
        self,
        channel: str,
        name: str,
        content: bytes,
        *,
        mimetype: str,
        filetype: str,
        text: str = "",
        user: str = "U1",
        thread_ts: str | None = None,
        size: int | None = None,
        stub: bool = False,
    ) -> str:
        """A message carrying one file; returns the message ts. `size` lets a test declare a
        size other than the real one (Slack's declared size is what the bot trusts first)."""
        files = self._files_state()
        file_id = f"F{len(files) + 1:05d}"
        url = f"{self.url}{FILE_PATH}{self.team}-{file_id}/{name}"
        obj = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(content) if size is None else size,
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
            "user": user,
        }
        files[file_id] = {"object": obj, "content": content}
        listed = {"id": file_id, "mode": "hosted", "file_access": "check_file_info"} if stub else obj
        return self.add_message(channel, text, user=user, thread_ts=thread_ts, files=[listed], subtype="file_share")

    def file_object(self, file_id: str) -> dict:
        return self._files_state()[file_id]["object"]

    def set_locale(self, user: str, locale: str) -> None:
        self._files_state()
        self.locales[user] = locale

    # -- the download route ------------------------------------------------------------------
    def serve_get(self, req) -> bool:
        """Serve a url_private download. Other GETs are Web API calls (slack_sdk sends users.info
        as GET with query arguments; Slack treats them like form arguments): the query becomes
        the body and FakeSlack.handle carries on (False)."""
        path, _, query = req.path.partition("?")
        prefix = next((p for p in (FILE_PATH, ORIGIN_PATH) if path.startswith(p)), None)
        if prefix is None:
            req.path, req._body = path, query.encode()
            return False
        files = self._files_state()
        file_id = path[len(prefix) :].split("/", 1)[0].rsplit("-", 1)[-1]
        token = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
        authorized = token in self.valid_tokens
        record = {"file": file_id, "authorized": authorized, "time": time.monotonic(), "host": prefix}
        self.downloads.append(record)
        redirect = None
        if authorized and prefix == FILE_PATH:
            if getattr(self, "foreign_redirect", None):
                redirect = self.foreign_redirect
            elif getattr(self, "origin_redirect", False):
                redirect = self.url + ORIGIN_PATH + path[len(FILE_PATH) :] + ("?" + query if query else "")
        if redirect:
            record["status"] = 302
            req.send_response(302)
            req.send_header("Location", redirect)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return True
        if not authorized:
            record["status"] = 302
            req.send_response(302)
            req.send_header("Location", "https://slack.invalid/?redir=" + path)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return True
        entry = files.get(file_id)
        if entry is None:
            record["status"] = 404
            req.send_json(404, {"ok": False})
            return True
        content = entry["content"]
        record["status"] = 200
        req.send_response(200)
        req.send_header("Content-Type", entry["object"]["mimetype"])
        if getattr(self, "omit_content_length", False):  # a body without a length: read until close
            req.send_header("Connection", "close")
            req.close_connection = True
        else:
            req.send_header("Content-Length", str(len(content)))
        req.end_headers()
        try:
            for start in range(0, len(content), CHUNK):
                req.wfile.write(content[start : start + CHUNK])
                self.bytes_served[file_id] = self.bytes_served.get(file_id, 0) + len(content[start : start + CHUNK])
        except (BrokenPipeError, ConnectionResetError):
            req.close_connection = True  # the client stopped reading (byte limit): expected
        return True

    def serve_upload(self, req) -> bool:
        """The POST to an upload_url from files.getUploadURLExternal (raw bytes or multipart)."""
        if not req.path.startswith(UPLOAD_PATH):
            return False
        self._files_state()
        pending = self._pending_uploads().get(req.path[len(UPLOAD_PATH) :])
        if pending is None:
            req.send_json(404, {"ok": False})
            return True
        body, kind = req.body(), req.headers.get("Content-Type") or ""
        if kind.startswith("multipart/form-data"):
            from .openai_files_api import multipart_fields

            body = next(iter(multipart_fields(kind, body).values()), (None, b""))[1]
        pending["content"] = body
        req.send_response(200)
        req.send_header("Content-Length", "0")
        req.end_headers()
        return True

    def _pending_uploads(self) -> dict:
        if not hasattr(self, "_uploads"):
            self._uploads: dict[str, dict] = {}  # upload key -> {"file_id", "filename", "length", "content"}
            self.uploaded: list[dict] = []  # files shared by completeUploadExternal: {"name", "content", ...}
        return self._uploads

    # -- Web API methods -------------------------------------------------------------------------
    def m_files_getUploadURLExternal(self, p):
        uploads = self._pending_uploads()
        length = str(p.get("length") or "")
        if not p.get("filename") or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "missing_argument"}
        key = f"{self.team}-U{len(uploads) + 1:04d}"
        file_id = f"F9{len(uploads) + 1:04d}"
        uploads[key] = {"file_id": file_id, "filename": p["filename"], "length": int(length), "content": None}
        return {"ok": True, "upload_url": f"{self.url}{UPLOAD_PATH}{key}", "file_id": file_id}

    def m_files_completeUploadExternal(self, p):
        uploads = self._pending_uploads()
        try:
            wanted = json.loads(p.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        by_id = {u["file_id"]: u for u in uploads.values()}
        shared = []
        for item in wanted:
            upload = by_id.get(item.get("id"))
            if upload is None or upload["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            name = upload["filename"]
            url = f"{self.url}{FILE_PATH}{self.team}-{upload['file_id']}/{name}"
            obj = {
                "id": upload["file_id"],
                "name": name,
                "title": item.get("title") or name,
                "size": len(upload["content"]),
                "mimetype": "application/octet-stream",
                "mode": "hosted",
                "url_private": url,
                "user": self.bot_user_id,
            }
            self._files_state()[upload["file_id"]] = {"object": obj, "content": upload["content"]}
            self.uploaded.append(
                {**obj, "content": upload["content"], "channel": p.get("channel_id"), "thread_ts": p.get("thread_ts")}
            )
            shared.append(obj)
        if p.get("channel_id"):
            self._bot_message(
                p["channel_id"], p.get("initial_comment") or "", p.get("thread_ts"), files=shared, subtype="file_share"
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def m_files_info(self, p):
        entry = self._files_state().get(p.get("file") or "")
        if entry is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": dict(entry["object"])}

    def m_users_info(self, p):
        self._files_state()
        user = p.get("user") or ""
        if not user.startswith("U") and not user.startswith("W"):
            return {"ok": False, "error": "user_not_found"}
        out = {"id": user, "team_id": self.team, "name": user.lower(), "is_bot": False}
        if str(p.get("include_locale")).lower() in ("1", "true"):
            out["locale"] = self.locales.get(user, "en-US")
        return {"ok": True, "user": out}
