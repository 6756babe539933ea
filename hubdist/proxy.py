"""configurable-http-proxy as the hub runs it.

For now only one guard: JupyterHub kills whatever process its proxy pid file names before
starting the proxy, checking only that the pid is alive. In a container that restarts,
pids are reused from 1 each time, so a pid file left by the previous run can name the hub
itself (or one of its threads) and the hub would kill itself on every start.
"""

from __future__ import annotations

from pathlib import Path

PROXY_COMMAND = "configurable-http-proxy"


def forget_stale_pid_file(pid_file: str | Path) -> bool:
    """Remove ``pid_file`` unless it names a running configurable-http-proxy.

    Returns True if the file was removed. A proxy that is really running is left for
    JupyterHub to stop, as it would outside a container.
    """
    path = Path(pid_file)
    try:
        pid = int(path.read_text().strip())
    except FileNotFoundError:
        return False
    except ValueError:
        pid = None
    if pid is not None and _is_proxy(pid):
        return False
    path.unlink(missing_ok=True)
    return True


def _is_proxy(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:  # no such process (or not ours to look at)
        return False
    # node runs the proxy as `node /path/to/configurable-http-proxy ...`
    return any(arg.decode(errors="replace").endswith(PROXY_COMMAND) for arg in argv[:2])
