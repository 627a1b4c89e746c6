"""An upload that fails half-way, against a fake Hub served on 127.0.0.1 (huggingface_hub's real HTTP
client, real sockets): transient failures (503, a connection reset mid-commit) are retried, a push
that keeps failing raises one line and leaves no repository state, and a commit holds every file."""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hf_vssl.hub.push import upload_repository


class FakeHub(ThreadingHTTPServer):
    """The four endpoints of a commit; `failures` are the answers of the next commit requests
    ("503" or "reset"), after which commits succeed. `files` is what the repository holds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures: list[str] = []
        self.files: dict[str, bytes] = {}
        self.commit_requests = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/api/repos/create":
            return self._answer(200, {"url": f"{self.server.endpoint}/alice/repo", "name": "alice/repo"})
        if self.path == "/api/validate-yaml":
            return self._answer(200, {"errors": [], "warnings": []})
        if self.path.endswith("/preupload/main"):
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in json.loads(body)["files"]]  # fmt: skip
            return self._answer(200, {"files": files, "commitOid": "0" * 40})
        if self.path.endswith("/commit/main"):
            self.server.commit_requests += 1
            failure = self.server.failures.pop(0) if self.server.failures else None
            if failure == "reset":  # RST instead of an answer, as a dropped connection
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return None
            if failure == "503":
                return self._answer(503, {"error": "Service Unavailable"})
            lines = [json.loads(line) for line in body.decode().splitlines()][1:]
            self.server.files |= {v["value"]["path"]: base64.b64decode(v["value"]["content"]) for v in lines}
            url = f"{self.server.endpoint}/alice/repo/commit/" + "a" * 40
            return self._answer(200, {"commitUrl": url, "commitOid": "a" * 40, "pullRequestUrl": None})
        return self._answer(404, {"error": f"{self.path} is not part of the fake Hub"})

    def do_GET(self) -> None:
        if "/tree/" in self.path:
            files = [{"type": "file", "path": n, "size": len(c), "oid": "b" * 40} for n, c in self.server.files.items()]  # fmt: skip
            return self._answer(200, files)
        return self._answer(404, {"error": f"{self.path} is not part of the fake Hub"})


@pytest.fixture
def fake_hub():
    hub = FakeHub()
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        hub.shutdown()
        hub.server_close()


@pytest.fixture
def staged(tmp_path, tiny_backbone):
    """A repository folder as `stage_repository` writes it: config and weights."""
    folder = tmp_path / "staged"
    tiny_backbone("vssl-r3d", depth=10).save_pretrained(folder)
    return folder


def _upload(folder, hub, **kwargs):
    return upload_repository(folder, "alice/repo", token="hf_fake", endpoint=hub.endpoint, backoff_seconds=0.01, **kwargs)  # fmt: skip


def test_transient_failures_are_retried_until_the_commit_lands(staged, fake_hub):
    fake_hub.failures = ["503", "reset"]
    commit = _upload(staged, fake_hub)
    assert fake_hub.commit_requests == 3 and commit.oid == "a" * 40
    assert set(fake_hub.files) == {"config.json", "model.safetensors"}
    assert fake_hub.files["model.safetensors"] == (staged / "model.safetensors").read_bytes()


def test_a_push_that_keeps_failing_raises_one_line_and_leaves_the_repository_empty(staged, fake_hub):
    fake_hub.failures = ["503"] * 3
    with pytest.raises(RuntimeError, match=r"push to alice/repo failed \(try 3 of 3: .*503.*\); no commit was made") as error:  # fmt: skip
        _upload(staged, fake_hub, max_tries=3)
    assert "\n" not in str(error.value)
    assert fake_hub.commit_requests == 3 and fake_hub.files == {}  # no config without weights


def test_a_commit_missing_a_file_is_refused(staged, fake_hub, monkeypatch):
    """A Hub that drops a file from the commit: the check after the commit names it."""
    original = _Handler.do_GET

    def drop_weights(handler):
        handler.server.files.pop("model.safetensors", None)
        original(handler)

    monkeypatch.setattr(_Handler, "do_GET", drop_weights)
    with pytest.raises(RuntimeError, match=r"lacks \['model.safetensors'\]: push again"):
        _upload(staged, fake_hub)
