"""A real local HTTP receiver for webhook tests: records every POST body; can fail the
first N requests (503) or every request with a given status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, *, fail_first: int = 0, always: int | None = None) -> None:
        self.fail_first = fail_first
        self.always = always
        self.attempts: list[dict[str, Any]] = []  # every request, failed or not
        self.received: list[dict[str, Any]] = []  # the ones answered 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_event_id_header"] = self.headers.get("X-Opsloop-Event-Id")
                with receiver.lock:
                    receiver.attempts.append(body)
                    failing = receiver.always or (
                        503 if len(receiver.attempts) <= receiver.fail_first else None
                    )
                    if failing is None:
                        receiver.received.append(body)
                self.send_response(failing or 200)
                self.end_headers()
                self.wfile.write(b"no" if failing else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-path"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        with self.lock:
            return [b["opsloop"]["kind"] for b in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
