"""``hubdist edge``: the hub over HTTPS, ended by Caddy in front of the proxy.

The edge's container is the only one facing the internet with HUBDIST_DOMAIN set
(docker-compose.https.yml): port 80 answers ACME's HTTP-01 challenges and redirects
everything else to https://, port 443 ends TLS and forwards to configurable-http-proxy,
which keeps its routes from the hub as before. This program:

- checks the settings (hubdist.tls.settings) and, for an own certificate, the files;
- runs Caddy, supervised (restarted when it dies), with the configuration of the mode it
  is in (hubdist.tls.caddy: ``fallback`` until an ACME certificate is held, then ``acme``;
  or ``own``);
- turns Caddy's log into messages that say what to do (a failed order says why and how to
  debug it; the hub is meanwhile served with a temporary self-signed certificate);
- looks at the certificate it serves every few seconds: logs and records (hubdist.tls.status)
  each new one with its expiry and renewal date, switches from ``fallback`` to ``acme`` once
  the ACME certificate is served, and reloads a replaced own certificate.

Caddy listens on 8080 and 8443 in the container (no privilege needed to bind them); compose
publishes them on 80 and 443. It runs as the unprivileged ``hubdist-edge`` user with no
capabilities and a read-only root file system; it writes only its storage volume (ACME
account, certificates) and /tmp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509

from ..tls import caddy, certificates, status, storage
from ..tls.settings import EdgeSettings, SettingsError, from_environment
from .supervise import Supervisor

RUNTIME_DIR = Path(os.environ.get("HUBDIST_EDGE_RUNTIME_DIR", "/tmp/hubdist-edge"))
CADDY = "caddy"
#: how often the edge looks at what it serves (at most: HUBDIST_TLS_CHECK_INTERVAL if shorter)
LOOK_EVERY = 10.0
#: Caddy's warnings about what this configuration does on purpose: not echoed
EXPECTED = {
    "server is listening only on the HTTP port, so no automatic HTTPS will be applied to this "
    "server",
    "automatic HTTP->HTTPS redirects are disabled",
    "stapling OCSP",  # Let's Encrypt, like pebble, no longer runs OCSP
}


class Edge:
    def __init__(self, settings: EdgeSettings, runtime_dir: Path = RUNTIME_DIR):
        self.settings = settings
        self.runtime_dir = runtime_dir
        self.config_file = runtime_dir / "caddy.json"
        self.admin_socket = runtime_dir / "admin.sock"
        self.own_pem = ("", "")
        self.mode = caddy.OWN if settings.mode == "own" else self.acme_mode()
        self.serving: certificates.CertificateInfo | None = None
        self.problem = ""
        self.supervisor: Supervisor | None = None
        self._status_failed = False

    # -- running -------------------------------------------------------------------------

    async def run(self) -> int:
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        env = dict(os.environ)
        # Caddy keeps an autosaved copy of its configuration and its default data in its
        # home: /tmp, the one writable place besides the storage volume
        env.update(HOME=str(self.runtime_dir), XDG_CONFIG_HOME=str(self.runtime_dir))
        command = [CADDY, "run", "--config", str(self.config_file)]
        self.supervisor = Supervisor(
            command,
            env,
            name="hubdist edge",
            on_line=self.on_caddy_line,
            before_start=self.before_caddy_starts,
        )
        self.log(self.intention())
        looking = asyncio.ensure_future(self.keep_looking())
        try:
            return await self.supervisor.run()
        finally:
            looking.cancel()

    def acme_mode(self) -> str:
        """ACME alone while a valid certificate is held, else with the temporary fallback."""
        return caddy.ACME if held_acme_certificate(self.settings) else caddy.FALLBACK

    def before_caddy_starts(self) -> None:
        """Set damaged certificates aside (Caddy would not start), and serve a temporary
        one until the new order works if the held one was among them."""
        moved = storage.set_aside_damaged(self.settings.storage / "caddy")
        for path in moved:
            self.log(
                f"a certificate in the storage was cut short (a kill or a full disk during a "
                f"write) and would stop Caddy from starting: set aside as {path}; it is "
                "ordered again"
            )
        if moved and self.mode == caddy.ACME:
            self.mode = self.acme_mode()
            self.write_config()

    def intention(self) -> str:
        s = self.settings
        if self.mode == caddy.OWN:
            return f"serving {s.public_origin} with your certificate {s.cert_file}"
        held = "held in the storage volume" if self.mode == caddy.ACME else "none held yet"
        return (
            f"serving {s.public_origin}; certificates from {s.acme_directory} for "
            f"{s.acme_email} ({held})"
        )

    def write_config(self) -> None:
        text = caddy.render(self.settings, self.mode, str(self.admin_socket), self.own_pem)
        temporary = self.config_file.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.chmod(0o600)  # it may hold the own certificate's key
        os.replace(temporary, self.config_file)

    async def reload(self, mode: str, why: str) -> bool:
        """Load ``mode``'s configuration into the running Caddy (open websockets close)."""
        previous = self.mode
        self.mode = mode
        self.write_config()
        process = await asyncio.create_subprocess_exec(
            CADDY, "reload", "--config", str(self.config_file),
            "--address", f"unix/{self.admin_socket}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "HOME": str(self.runtime_dir)},
        )  # fmt: skip
        output, _ = await process.communicate()
        if process.returncode:
            self.mode = previous
            self.write_config()  # what a restarted Caddy loads stays what runs
            self.log(f"could not reload Caddy ({why}): {output.decode(errors='replace')[-500:]}")
            return False
        self.log(f"reloaded Caddy: {why}")
        self.record()
        return True

    async def keep_looking(self) -> None:
        interval = min(LOOK_EVERY, self.settings.check_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.look()
            except Exception as exc:  # keep looking: the next look may succeed
                self.log(f"could not check what is served: {exc}")

    async def look(self) -> None:
        """Record a newly served certificate, and change mode when it calls for it."""
        if self.mode == caddy.OWN:
            await self.reload_changed_own_files()
        try:
            served = await asyncio.to_thread(
                certificates.served, self.settings.https_listen, self.settings.domain
            )
        except OSError:  # ssl.SSLError is one
            return  # Caddy is (re)starting, or has no certificate yet: its log says why
        info = certificates.describe(served, caddy.TEMPORARY_AUTHORITY)
        if self.serving is None or info.serial != self.serving.serial:
            self.serving = info
            self.log(info.summary())
            if not info.temporary:
                self.problem = ""
            self.record()
        expired = info.expires() <= datetime.now(timezone.utc)
        # In fallback mode Caddy keeps serving an expired ACME certificate until its order (or
        # the temporary authority) replaces it: switching on that one would cancel the very
        # order under way, then switch back at once, again and again.
        if self.mode == caddy.FALLBACK and not info.temporary and not expired:
            await self.reload(caddy.ACME, "the ACME certificate is served; Caddy renews it alone")
        elif self.mode == caddy.ACME and expired:
            await self.reload(
                caddy.FALLBACK,
                "the certificate expired without renewal: a temporary one until an order works",
            )

    async def reload_changed_own_files(self) -> None:
        s = self.settings
        assert s.cert_file and s.key_file
        try:
            cert_pem, key_pem, _leaf = certificates.load_own(s.cert_file, s.key_file, s.domain)
        except certificates.CertificateError as exc:
            if str(exc) != self.problem:
                self.problem = str(exc)
                self.log(f"{exc}; still serving the previous certificate")
                self.record()
            return
        if (cert_pem, key_pem) != self.own_pem:
            first = self.own_pem == ("", "")
            self.own_pem = (cert_pem, key_pem)
            self.problem = ""
            if not first:
                await self.reload(caddy.OWN, f"{s.cert_file} changed")

    def record(self) -> None:
        try:
            status.write(
                self.settings.status_file,
                domain=self.settings.domain,
                mode=self.mode,
                acme_directory=self.settings.acme_directory if self.settings.mode == "acme" else "",
                serving=self.serving.as_dict() if self.serving else None,
                problem=self.problem,
            )
        except OSError as exc:  # the log says the same; serving matters more than the file
            if not self._status_failed:
                self.log(f"cannot write the status file (the log has it all): {exc}")
            self._status_failed = True

    # -- Caddy's log -----------------------------------------------------------------------

    def on_caddy_line(self, line: str) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            print(f"caddy: {line}", file=sys.stderr, flush=True)
            return
        if not isinstance(entry, dict) or entry.get("msg") in EXPECTED:
            return
        extra = {k: v for k, v in entry.items() if k not in ("level", "ts", "logger", "msg")}
        details = " ".join(f"{k}={v}" for k, v in extra.items())
        print(
            f"caddy {entry.get('level', '?')} {entry.get('logger', '')}: {entry.get('msg')}"
            + (f" ({details})" if details else ""),
            file=sys.stderr,
            flush=True,
        )
        explained = explain(entry, self.settings)
        if explained:
            self.problem = explained
            self.log(explained)
            self.record()

    @staticmethod
    def log(message: str) -> None:
        print(f"hubdist edge: {message}", file=sys.stderr, flush=True)

    def own_files_loaded(self) -> None:
        """For the own mode: the files as checked at start are what Caddy loads first."""
        s = self.settings
        assert s.cert_file and s.key_file
        cert_pem, key_pem, _leaf = certificates.load_own(s.cert_file, s.key_file, s.domain)
        self.own_pem = (cert_pem, key_pem)


def explain(entry: dict, settings: EdgeSettings) -> str:
    """A failed ACME order, in words that say what to check; "" for anything else."""
    if entry.get("msg") != "could not get certificate from issuer":
        return ""
    if entry.get("issuer") == "local":  # the temporary authority: it does not fail
        return ""
    retry_minutes = max(1, round(settings.fallback_lifetime * 2 / 3 / 60))
    return (
        f"ordering a certificate for {settings.domain} from {settings.acme_directory} failed: "
        f"{entry.get('error', 'no reason given')}. Check that {settings.domain} resolves to "
        f"this machine's public address and that port 80 here is reachable from the internet "
        f"(docs/https.md, 'A failed order'). Until an order works, a temporary self-signed "
        f"certificate is served (browsers warn) and the order is retried about every "
        f"{retry_minutes} min, no restart needed"
    )


def held_acme_certificate(settings: EdgeSettings) -> bool:
    """Whether the storage holds an unexpired certificate for the domain from the ACME
    server configured now (a staging certificate does not count for production)."""
    path = (
        settings.storage / "caddy" / "certificates" / issuer_key(settings.acme_directory)
        / settings.domain / f"{settings.domain}.crt"
    )  # fmt: skip
    try:
        held = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return held.not_valid_after_utc > datetime.now(timezone.utc)


def issuer_key(directory: str) -> str:
    """Caddy's storage folder for an ACME directory's certificates, e.g.
    acme-v02.api.letsencrypt.org-directory."""
    rest = directory.split("://", 1)[-1]
    return rest.replace(":", "-").replace("/", "-").strip("-").lower()


def check(settings: EdgeSettings, timeout: float = 4.0) -> str | None:
    """Why the edge is not healthy, or None: both ports must answer."""
    try:
        certificates.served(settings.https_listen, settings.domain, timeout=timeout)
    except OSError as exc:  # ssl.SSLError is one
        return f"HTTPS port {settings.https_listen} serves no certificate: {exc}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    url = f"http://127.0.0.1:{settings.http_listen}/"
    try:
        opener.open(url, timeout=timeout).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 308:
            return f"HTTP port {url} answered {exc.code}, not the redirect to https"
    except OSError as exc:
        return f"HTTP port {url} does not answer: {exc}"
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist edge",
        description="Serve the hub over HTTPS (Caddy in front of the proxy): certificates "
        "over ACME or your own, HTTP redirected. Settings: HUBDIST_DOMAIN and the other "
        "variables of docs/https.md.",
    )
    parser.add_argument("--check", action="store_true", help="exit 0 if the edge answers")
    return parser


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    try:
        settings = from_environment(os.environ)
    except SettingsError as exc:
        Edge.log(str(exc))
        return 2
    if args.check:
        problem = check(settings)
        if problem:
            print(f"hubdist edge: unhealthy: {problem}", file=sys.stderr)
            return 1
        return 0
    edge = Edge(settings)
    if settings.mode == "own":
        try:
            edge.own_files_loaded()
        except certificates.CertificateError as exc:
            Edge.log(f"{exc}; not serving (docs/https.md, 'Your own certificate')")
            return 1
    try:
        return asyncio.run(edge.run())
    except FileNotFoundError:
        Edge.log(f"{CADDY} is not on PATH (the hub image installs Debian's caddy package)")
        return 127
