"""A small HTTP proxy in front of the real Label Studio server, for the fault tests.

It forwards every request unchanged, except that it can answer the next N requests
with a 5xx itself (a burst of server errors), or go away after N requests (the server
stopping mid-pull: the listening socket closes and connections are refused).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.host, self.port = target.hostname, target.port
        self.failures_left = 0
        self.failure_status = 503
        self.stop_after: int | None = None
        self.requests = 0
        self.closed = False
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                with proxy.lock:
                    proxy.requests += 1
                    gone = proxy.stop_after is not None and proxy.requests > proxy.stop_after
                    fail = not gone and proxy.failures_left > 0
                    if fail:
                        proxy.failures_left -= 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if gone:
                    self.close_connection = True
                    self.connection.close()
                    threading.Thread(target=proxy.close, daemon=True).start()
                    return
                if fail:
                    payload = b'{"detail": "injected failure"}'
                    self.send_response(proxy.failure_status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail_next(self, n: int, status: int = 503) -> None:
        with self.lock:
            self.failures_left, self.failure_status = n, status

    def go_away_after(self, n: int) -> None:
        with self.lock:
            self.stop_after = self.requests + n

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.server.shutdown()
        self.server.server_close()
