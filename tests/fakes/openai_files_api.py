"""OpenAI Files, Vector Stores and container files for the fake OpenAI (a mixin of FakeOpenAI).

Shapes follow the openai SDK's own types in site-packages (the SDK parses these answers):
  * POST /v1/files, multipart `file` + `purpose` -> openai/types/file_object.py FileObject;
    GET /v1/files/{id} -> FileObject; unknown id -> 404 (openai.NotFoundError).
  * POST /v1/vector_stores {name, metadata} -> openai/types/vector_store.py VectorStore;
    GET /v1/vector_stores/{id}; DELETE -> openai/types/vector_store_deleted.py.
  * POST /v1/vector_stores/{id}/files {file_id, attributes} -> openai/types/vector_stores/
    vector_store_file.py VectorStoreFile; GET the same path -> a cursor page
    (openai/pagination.py SyncCursorPage: data, has_more; `after`/`limit` query).
  * GET /v1/containers/{container_id}/files/{file_id}/content -> the bytes
    (openai/resources/containers/files/content.py), and GET .../files/{file_id} ->
    openai/types/containers/file_retrieve_response.py.
Errors are OpenAI's envelope {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs


def _error(req, status: int, message: str):
    return req.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


def multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body (RFC 7578)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


class OpenAIFilesApi:
    """Mixin for FakeOpenAI: uses its `valid_keys` and `lock`."""

    def _files_state(self):
        if not hasattr(self, "files"):
            self.files: dict[str, dict] = {}  # id -> {"object": FileObject, "content": bytes}
            self.vector_stores: dict[str, dict] = {}  # id -> {"object": VectorStore, "files": [VectorStoreFile]}
            self.container_files: dict[tuple[str, str], dict] = {}  # (container, file) -> {"object", "content"}
            self.files_calls: list[tuple[str, str]] = []  # (verb, path)
            self.deleted: set[str] = set()  # vector store ids deleted
            self._seq = 0
        return self.files

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:04d}"

    # -- helpers for tests -------------------------------------------------------------------
    def add_container_file(self, container_id: str, path: str, content: bytes) -> str:
        """A file the code interpreter produced in `container_id` (its `path`, e.g. /mnt/data/chart.png)."""
        self._files_state()
        file_id = self._id("cfile_")
        obj = {
            "id": file_id,
            "bytes": len(content),
            "container_id": container_id,
            "created_at": int(time.time()),
            "object": "container.file",
            "path": path,
            "source": "assistant",
        }
        self.container_files[(container_id, file_id)] = {"object": obj, "content": content}
        return file_id

    # -- routing -------------------------------------------------------------------------------
    def serve_files(self, req, verb) -> bool:
        """True when the request was one of these endpoints (and has been answered)."""
        path, _, query = req.path.partition("?")
        path = path.split("/v1", 1)[-1] if "/v1/" in path else path
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("files", "vector_stores", "containers"):
            return False
        self._files_state()
        key = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
        if key not in self.valid_keys:
            req.send_json(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
            return True
        with self.lock:
            self.files_calls.append((verb, path))
        query_args = {k: v[0] for k, v in parse_qs(query).items()}
        if parts[0] == "files":
            self._serve_openai_file(req, verb, parts)
        elif parts[0] == "vector_stores":
            self._serve_vector_store(req, verb, parts, query_args)
        else:
            self._serve_container(req, verb, parts)
        return True

    def _serve_openai_file(self, req, verb, parts):
        if verb == "POST" and len(parts) == 1:
            fields = multipart_fields(req.headers.get("Content-Type") or "", req.body())
            if "file" not in fields or "purpose" not in fields:
                return _error(req, 400, "file and purpose are required")
            filename, content = fields["file"]
            file_id = self._id("file-")
            now = int(time.time())
            obj = {
                "id": file_id,
                "bytes": len(content),
                "created_at": now,
                "filename": filename or "upload",
                "object": "file",
                "purpose": fields["purpose"][1].decode(),
                "status": "processed",
            }
            if "expires_after[seconds]" in fields:  # FileCreateParams.ExpiresAfter: 3600 to 2592000 s after created_at
                seconds = int(fields["expires_after[seconds]"][1] or 0)
                if fields.get("expires_after[anchor]", (None, b""))[1] != b"created_at" or not 3600 <= seconds <= 2592000:
                    return _error(req, 400, "expires_after must be {anchor: created_at, seconds: 3600..2592000}")
                obj["expires_at"] = now + seconds
            with self.lock:
                self.files[file_id] = {"object": obj, "content": content}
            return req.send_json(200, obj)
        if verb == "GET" and len(parts) == 2 and parts[1] in self.files:
            return req.send_json(200, self.files[parts[1]]["object"])
        return _error(req, 404, "No such File object")

    def _serve_vector_store(self, req, verb, parts, query):
        if verb == "POST" and len(parts) == 1:
            body = json.loads(req.body() or b"{}")
            store_id = self._id("vs_")
            obj = {
                "id": store_id,
                "created_at": int(time.time()),
                "name": body.get("name") or "",
                "metadata": body.get("metadata") or {},
                "object": "vector_store",
                "status": "completed",
                "usage_bytes": 0,
                "last_active_at": int(time.time()),
                "file_counts": {"cancelled": 0, "completed": 0, "failed": 0, "in_progress": 0, "total": 0},
            }
            with self.lock:
                self.vector_stores[store_id] = {"object": obj, "files": []}
            return req.send_json(200, obj)
        store = self.vector_stores.get(parts[1]) if len(parts) > 1 else None
        if store is None:
            return _error(req, 404, "No such vector store")
        if len(parts) == 2 and verb == "GET":
            return req.send_json(200, store["object"])
        if len(parts) == 2 and verb == "DELETE":  # openai/types/vector_store_deleted.py
            with self.lock:
                self.vector_stores.pop(parts[1], None)
                self.deleted.add(parts[1])
            return req.send_json(200, {"id": parts[1], "deleted": True, "object": "vector_store.deleted"})
        if len(parts) == 3 and parts[2] == "files" and verb == "POST":
            body = json.loads(req.body() or b"{}")
            uploaded = self.files.get(body.get("file_id") or "")
            if uploaded is None:
                return _error(req, 404, "No such File object")
            obj = {
                "id": body["file_id"],
                "created_at": int(time.time()),
                "object": "vector_store.file",
                "status": "completed",
                "usage_bytes": uploaded["object"]["bytes"],
                "vector_store_id": parts[1],
                "attributes": body.get("attributes"),
                "last_error": None,
            }
            with self.lock:
                store["files"] = [f for f in store["files"] if f["id"] != obj["id"]] + [obj]
                counts = store["object"]["file_counts"]
                counts["completed"] = counts["total"] = len(store["files"])
                store["object"]["usage_bytes"] = sum(f["usage_bytes"] for f in store["files"])
            return req.send_json(200, obj)
        if len(parts) == 3 and parts[2] == "files" and verb == "GET":
            files = list(reversed(store["files"])) if query.get("order", "desc") == "desc" else list(store["files"])
            if query.get("after"):
                ids = [f["id"] for f in files]
                files = files[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
            limit = int(query.get("limit") or 20)
            page = files[:limit]
            return req.send_json(
                200,
                {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                    "has_more": len(files) > limit,
                },
            )
        return _error(req, 404, "not found")

    def _serve_container(self, req, verb, parts):
        # /containers/{container_id}/files/{file_id}[/content]
        if verb != "GET" or len(parts) not in (4, 5) or parts[2] != "files":
            return _error(req, 404, "not found")
        entry = self.container_files.get((parts[1], parts[3]))
        if entry is None:
            return _error(req, 404, "No such container file")
        if len(parts) == 4:
            return req.send_json(200, entry["object"])
        req.send_response(200)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Length", str(len(entry["content"])))
        req.end_headers()
        req.wfile.write(entry["content"])


# -- Responses API items and annotations of these tools (openai/types/responses/
# response_file_search_tool_call.py, response_code_interpreter_tool_call.py,
# response_output_text.py AnnotationFileCitation / AnnotationContainerFileCitation) --------------
def file_search_call(
    queries: list[str], results: list[dict] | None = None, *, id: str = "fs_1", status: str = "completed"
) -> dict:
    return {"id": id, "type": "file_search_call", "queries": queries, "status": status, "results": results}


def code_interpreter_call(
    code: str, container_id: str, *, id: str = "ci_1", status: str = "completed", outputs: list[dict] | None = None
) -> dict:
    return {
        "id": id,
        "type": "code_interpreter_call",
        "code": code,
        "container_id": container_id,
        "outputs": outputs,
        "status": status,
    }


def file_citation(file_id: str, filename: str, index: int = 0) -> dict:
    return {"type": "file_citation", "file_id": file_id, "filename": filename, "index": index}


def container_file_citation(container_id: str, file_id: str, filename: str, start: int = 0, end: int = 0) -> dict:
    return {
        "type": "container_file_citation",
        "container_id": container_id,
        "file_id": file_id,
        "filename": filename,
        "start_index": start,
        "end_index": end,
    }
