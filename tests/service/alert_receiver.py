"""A tiny webhook receiver on loopback (``http.server`` in a thread) for the alert delivery tests.

It records every request (alert id header, decoded body, whether the HMAC signature checks) and can
be told to die in the middle of request ``die_at`` (1-based): it reads that request, then closes the
connection without answering and stops listening, as a receiver that crashes mid-delivery does.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from trendml.alerts import payload as wire


class Receiver:
    def __init__(self, port: int = 0, *, secret: str | None = None, die_at: int | None = None) -> None:
        self.secret = secret
        self.die_at = die_at
        self.received: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ts = self.headers.get(wire.TIMESTAMP_HEADER, "")
                sig = self.headers.get(wire.SIGNATURE_HEADER, "")
                with outer.lock:
                    n = len(outer.received) + 1
                    outer.received.append(
                        {
                            "alert_id": self.headers.get(wire.ALERT_ID_HEADER),
                            "body": json.loads(body),
                            "signed_ok": bool(outer.secret) and wire.verify(outer.secret, ts, body, sig),
                            "path": self.path,
                        }
                    )
                if outer.die_at is not None and n >= outer.die_at:
                    self.close_connection = True  # no answer: the sender cannot know it arrived
                    self.connection.close()
                    threading.Thread(target=outer.stop, daemon=True).start()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.stopped = threading.Event()

    def stop(self) -> None:
        if not self.stopped.is_set():
            self.stopped.set()
            self.server.shutdown()
            self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [r["alert_id"] for r in self.received]
