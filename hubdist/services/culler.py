"""jupyterhub-idle-culler, run as the hub's own service: reaching it, and stopping with it.

Two things the plain culler gets wrong as a service of a containerised hub:

- It calls the hub at ``JUPYTERHUB_API_URL``, the hub's name on the network (``hub``).
  Under Swarm that name resolves only once the hub's health check has passed, after the
  culler's first round, which then fails and waits half the timeout for the next. The
  culler runs in the hub's container, so it calls the hub on the loopback address.
- The hub stops its services with SIGINT and sends SIGTERM only 30 s later (a wait that
  cannot be configured for services). Python leaves SIGINT ignored in a process that
  started with it ignored, as anything a shell starts in the background does and passes on
  to its children; the culler would then sit out those 30 s on every hub shutdown, and
  ``docker compose restart`` kills a hub after 10 s, before it has finished stopping. So
  SIGINT gets Python's usual handler back: the KeyboardInterrupt ends the culler's loop.

Run as ``python -m hubdist.culler --timeout=3600`` (the culler's own options).
"""

from __future__ import annotations

import os
import signal
from urllib.parse import urlsplit


def loopback_url(url: str) -> str:
    """``url`` with its host replaced by 127.0.0.1; https is left alone (its certificate
    names the host)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return url
    netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
    return parts._replace(netloc=netloc).geturl()


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("JUPYTERHUB_API_URL"):
        os.environ["JUPYTERHUB_API_URL"] = loopback_url(os.environ["JUPYTERHUB_API_URL"])
    from jupyterhub_idle_culler import main as run_culler

    try:
        run_culler()
    except KeyboardInterrupt:  # before or after its event loop, which catches its own
        pass


if __name__ == "__main__":
    main()
