"""Answers like a user's server on port 8888 and keeps files in the user's work folder.

GET .../files/NAME returns the file, PUT .../files/NAME stores the body, any other GET
says which user and container this is.
"""

import http.server
import json
import os
import socket
from pathlib import Path

WORK = Path("/home/jovyan/work")


class Handler(http.server.BaseHTTPRequestHandler):
    def _file(self) -> Path | None:
        _, found, name = self.path.partition("/files/")
        return WORK / Path(name).name if found else None

    def do_GET(self) -> None:
        path = self._file()
        if path is None:
            about = {"user": os.environ.get("JUPYTERHUB_USER"), "container": socket.gethostname()}
            self._send(200, json.dumps(about).encode())
        elif path.exists():
            self._send(200, path.read_bytes())
        else:
            self._send(404, b"no such file")

    def do_PUT(self) -> None:
        path = self._file()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if path is None:
            return self._send(404, b"PUT only to .../files/NAME")
        WORK.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        self._send(201, b"saved")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", 8888), Handler).serve_forever()
