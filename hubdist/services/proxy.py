"""configurable-http-proxy (CHP): run as a service of its own, supervised.

Users' traffic, kernel websockets included, flows browser -> CHP -> their server; the hub
only tells CHP where each user's server is. Run in its own container, CHP outlives hub
restarts (upgrades, config changes) and open connections are not cut. ``hubdist proxy`` is
that container's main process:

- the API token is the proxy token of hubdist.secrets (variable, ``_FILE`` or generated
  once in the folder shared with the hub), handed to CHP in ``CONFIGPROXY_AUTH_TOKEN``;
- CHP is restarted when it dies, and stopped with the container (``supervise``); the
  container's health check (``hubdist proxy --check``) reports a proxy that cannot stay up;
- the API the hub talks to is the wrapper's, which hands every request on to CHP's own API
  (on 127.0.0.1) and remembers the routes CHP accepted; a restarted CHP gets them as soon as
  its API answers (``proxy_routes``), before any route change the hub asks for meanwhile.

The API rewrites every route, so in compose it listens only on a network the hub and the
proxy share and users' servers are not on (``--api-ip proxy-api``: an alias on that
network, resolved here to the proxy's own address there). The public port faces the
internet, so the container runs as the unprivileged ``hubdist-proxy`` user with no
capabilities and a read-only root file system; the shared token file is that user's
(``hubdist start``, as root in the hub, gives it to them: ``hand_over_token``).

Also, for a hub that starts CHP itself: JupyterHub kills whatever process its proxy pid
file names before starting the proxy, checking only that the pid is alive. In a container
that restarts, pids are reused from 1 each time, so a pid file left by the previous run can
name the hub itself and the hub would kill itself on every start
(``forget_stale_pid_file``).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import pwd
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .proxy_routes import RouteRelay
from .supervise import Supervisor

PROXY_COMMAND = "configurable-http-proxy"
DEFAULT_HUB_URL = "http://hub:8081"
#: the account the proxy's container runs as (Dockerfile; docker-compose.yml's user:)
PROXY_USER = "hubdist-proxy"
#: each option's default comes from this variable, so the health check agrees with the proxy
API_IP_VARIABLE = "HUBDIST_PROXY_API_IP"
PORT_VARIABLE = "HUBDIST_PROXY_PORT"
#: set by docker-compose.https.yml (and the stack's HTTPS file): the edge ends TLS in front
BEHIND_EDGE_VARIABLE = "HUBDIST_PROXY_BEHIND_EDGE"
#: CHP's own API: on the loopback, reached by the wrapper only (proxy_routes)
CHP_API_IP = "127.0.0.1"


def free_loopback_port() -> int:
    """A port nobody listens on, for CHP's API; kept for its restarts."""
    with socket.socket() as probe:
        probe.bind((CHP_API_IP, 0))
        return probe.getsockname()[1]


def chp_command(args: argparse.Namespace, chp_api_port: int) -> list[str]:
    """CHP's command line; its API on 127.0.0.1:``chp_api_port``, behind the wrapper's."""
    hub = args.hub_url.rstrip("/")
    return [
        PROXY_COMMAND,
        "--ip", args.ip,
        "--port", str(args.port),
        "--api-ip", CHP_API_IP,
        "--api-port", str(chp_api_port),
        # the hub also adds "/" itself, but only once it is up and only to a proxy it reaches
        "--default-target", hub,
        # an external proxy gets no --error-target from the hub
        "--error-target", f"{hub}/hub/error",
        "--log-level", args.log_level,
        # behind the edge, its X-Forwarded-Proto (https) and -For must reach the hub and the
        # servers as they are: CHP would append its own (http), the value Tornado believes
        *(["--no-x-forward"] if args.behind_edge else []),
        *args.chp_args,
    ]  # fmt: skip


def plain_http_refused(environ: dict[str, str]) -> str:
    """Why this proxy must not serve (HTTPS is asked for but nothing ends TLS in front of
    it, so logins would travel in the clear), or "" if it may."""
    domain = environ.get("HUBDIST_DOMAIN", "").strip()
    if not domain or environ.get(BEHIND_EDGE_VARIABLE, "").strip():
        return ""
    return (
        f"HUBDIST_DOMAIN is set ({domain}), so the hub must be served over HTTPS, but this "
        "proxy runs without the edge that ends TLS and would serve it over plain HTTP: add "
        "docker-compose.https.yml (COMPOSE_FILE=docker-compose.yml:docker-compose.https.yml "
        "in .env, which ./hubdist-up does for you) or, on a stack, docker-stack.https.yml "
        "(docs/https.md)"
    )


def api_address(api_ip: str) -> str:
    """The address the API listens on: ``api_ip`` itself, or what the name resolves to here
    (an alias on the API's own network resolves to this container's address there)."""
    try:
        ipaddress.IPv4Address(api_ip)
        return api_ip
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(api_ip, None, socket.AF_INET)[0][4][0]
    except OSError as exc:
        raise ValueError(
            f"--api-ip {api_ip!r} ({API_IP_VARIABLE}) resolves to no IPv4 address ({exc}); "
            "in compose it is the proxy's alias on the proxy-api network: is the proxy "
            "attached to it?"
        ) from None


def check(port: int, api_port: int, timeout: float = 4.0, api_ip: str = "0.0.0.0") -> str | None:
    """Why the proxy on this machine is not healthy, or None if it is.

    Both listeners must answer: the public one (CHP's own health page) and the API (403
    without a token is an answer: the check needs no secret).
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no HTTP proxy
    api_host = "127.0.0.1" if api_ip == "0.0.0.0" else api_ip
    probes = {
        "public port": f"http://127.0.0.1:{port}/_chp_healthz",
        "API": f"http://{api_host}:{api_port}/api/routes",
    }
    for what, url in probes.items():
        try:
            opener.open(url, timeout=timeout).close()
        except urllib.error.HTTPError as exc:
            if not (what == "API" and exc.code == 403):
                return f"{what} {url} answered {exc.code}"
        except OSError as exc:
            return f"{what} {url} does not answer: {exc}"
    return None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist proxy",
        description="Run configurable-http-proxy for the hub, restarting it if it dies.",
        epilog="Arguments after -- go to configurable-http-proxy.",
    )
    parser.add_argument("--check", action="store_true", help="exit 0 if the proxy answers")
    parser.add_argument(
        "--hub-url", default=DEFAULT_HUB_URL, help="the hub, from the proxy (%(default)s)"
    )
    parser.add_argument("--ip", default="0.0.0.0", help="public address (%(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get(PORT_VARIABLE) or 8000),
        help=f"public port (default: ${PORT_VARIABLE}, else 8000; the stack's HTTPS file moves "
        "it off the published port, so that only the edge reaches the proxy)",
    )
    parser.add_argument(
        "--api-ip",
        default=os.environ.get(API_IP_VARIABLE) or "0.0.0.0",
        help=f"API address, or a name resolving to it (default: ${API_IP_VARIABLE}, else "
        "0.0.0.0; compose: proxy-api, the proxy's alias on a network users are not on)",
    )
    parser.add_argument("--api-port", type=int, default=8001, help="API port (%(default)s)")
    parser.add_argument("--log-level", default="info", help="CHP's log level (%(default)s)")
    parser.add_argument(
        "--behind-edge",
        action="store_true",
        default=bool(os.environ.get(BEHIND_EDGE_VARIABLE, "").strip()),
        help=f"the edge (hubdist edge) ends TLS in front: pass its X-Forwarded-* headers on "
        f"unchanged (default: ${BEHIND_EDGE_VARIABLE} set)",
    )
    parser.add_argument("chp_args", nargs="*", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    # the API's name is the proxy's alias on its own network: give that network's DNS a
    # moment to answer at start (the stack binds no name: docker-stack.yml says why)
    for _attempt in range(1 if args.check else 20):
        try:
            args.api_ip = api_address(args.api_ip)
            break
        except ValueError as exc:
            problem = str(exc)
            time.sleep(0 if args.check else 0.5)
    else:
        _log(problem)
        return 1
    if args.check:
        problem = check(args.port, args.api_port, api_ip=args.api_ip)
        if problem:
            print(f"hubdist proxy: unhealthy: {problem}", file=sys.stderr)
            return 1
        return 0
    from . import secrets  # not needed by --check, which runs every few seconds

    env = dict(os.environ)
    refused = plain_http_refused(env)
    if refused:
        _log(refused)
        return 1
    try:
        token = secrets.resolve(secrets.PROXY_TOKEN, env, secrets.shared_dir(env))
    except secrets.SecretError as exc:
        _log(str(exc))
        return 1
    except PermissionError as exc:  # e.g. a token file made by an older, root proxy
        _log(
            f"cannot read the proxy token ({exc}) as uid {os.getuid()}: the hub gives the "
            f"file to {PROXY_USER} when it starts (docker compose up -d hub); this proxy is "
            "restarted and tries again"
        )
        return 1
    _log(f"{token.spec.label} from {token.source}")
    secrets.export(token, env)
    chp_api_port = free_loopback_port()

    async def supervise() -> int:
        relay = RouteRelay(f"http://{CHP_API_IP}:{chp_api_port}", token.value, _log)
        try:
            server = relay.listen(args.api_port, args.api_ip)
        except OSError as exc:
            _log(f"cannot serve the API on {args.api_ip}:{args.api_port}: {exc}")
            return 1
        try:
            supervisor = Supervisor(
                chp_command(args, chp_api_port),
                env,
                after_exit=relay.hold,
                after_restart=relay.restore_when_answering,
            )
            return await supervisor.run()
        finally:
            server.stop()

    try:
        return asyncio.run(supervise())
    except FileNotFoundError:
        _log(f"{PROXY_COMMAND} is not on PATH (npm install -g configurable-http-proxy)")
        return 127


def _log(message: str) -> None:
    print(f"hubdist proxy: {message}", file=sys.stderr, flush=True)


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


def hand_over_token(path: Path, user: str = PROXY_USER) -> bool:
    """Make the generated token file, and its folder, the proxy user's (run as root by
    ``hubdist start``); True if it changed anything.

    The proxy runs unprivileged and must read the token; nobody else may. Files made by an
    older release (owned by root) are handed over too. Outside the hub image (no such user)
    or as non-root, nothing changes.
    """
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return False
    if os.geteuid() != 0 or not path.exists():
        return False
    changed = False
    for item, mode in ((path.parent, 0o700), (path, 0o600)):
        info = item.stat()
        if (info.st_uid, info.st_gid) != (account.pw_uid, account.pw_gid):
            os.chown(item, account.pw_uid, account.pw_gid)
            changed = True
        if info.st_mode & 0o777 != mode:
            item.chmod(mode)
            changed = True
    return changed
