"""The benchmarks' trivial single-user server: answers every GET at once, on port 8888.

The body names the user the hub started it for (JUPYTERHUB_USER), so a request through
the proxy proves it reached this user's own container. It exits on SIGTERM, unless
SIGTERM was already ignored when it started (the "stubborn" image runs it that way).
Extra arguments (a hub's Spawner.args) are ignored.
"""

import http.server
import os
import signal
import sys

BODY = (os.environ.get("JUPYTERHUB_USER", "") + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "hubdist-bench-trivial"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()

    def log_message(self, *args):
        pass


if signal.getsignal(signal.SIGTERM) != signal.SIG_IGN:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("0.0.0.0", 8888), Handler).serve_forever()
