"""HTTPS on compose, end to end: the real images with docker-compose.https.yml, a real ACME
server (pebble) validating the edge for real, GitHub login (the fake GitHub), a server and
its kernel, restarts, a renewal under an open kernel websocket, a browser, own certificates.

One deployment serves the whole module, in the order an administrator lives it:
the domain's DNS is not pointed at the machine yet (a temporary certificate, a clear error),
then it is (the order is retried and succeeds, no restart); users log in and work; every
service restarts (no new order); the certificate renews under an open kernel websocket; a
browser trusting the ACME server's root logs in; the site switches to its own certificate.

pebble and its DNS run in a container on the edge's network (tests/acme.py); the edge is
``hub.test`` there (its network alias, which the test points pebble's DNS at), and on this
machine (/etc/hosts) for the test's client and Chromium, through the published ports.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import NameOID
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from hubdist.tls import caddy
from hubdist.tls.certificates import served

from ..acme import AcmeServer, pebble_in_container, resolving_here
from ..browser import chromium, screenshots
from ..deploy.test_edge import Authority
from ..hubrig import docker, free_port
from .deployment import (
    COMPOSE_FILE,
    REPO,
    Deployment,
    api,
    http_session,
    isolated_env,
    require_base_image,
    server_api,
    tear_down,
    wait_for_server,
)
from .github import ALIAS as GITHUB_ALIAS
from .github import CLIENT_ID, ORG, GitHubHub, browser_url, github_login, start_fake
from .kernel import KernelSocket

pytestmark = pytest.mark.e2e

DOMAIN = "hub.test"
VALIDITY = 180  # seconds: the certificate renews 120 s after issue, long after the restarts
FALLBACK_LIFETIME = 90  # the temporary certificate: a failed order is retried after 60 s
USER = "alice"  # a member of the allowed organization at the fake GitHub
BROWSER_USER = "boss"


@dataclass
class HttpsHub:
    dep: Deployment
    github: GitHubHub
    acme: AcmeServer
    tls_dir: Path
    http_port: int
    https_port: int
    roots: Path | None = None  # pebble's root, once asked for
    kernel: KernelSocket | None = None  # opened by one test, used across the renewal

    @property
    def url(self) -> str:
        return f"https://{DOMAIN}:{self.https_port}"

    def served(self) -> x509.Certificate | None:
        try:
            return served(self.https_port, DOMAIN)
        except OSError:
            return None

    def trusted(self) -> str:
        if self.roots is None:
            self.roots = self.tls_dir.parent / "pebble-roots.pem"
            self.roots.write_text(self.acme.roots())
        return str(self.roots)

    def point_dns_at_edge(self) -> None:
        """The domain's DNS names the edge, as a real domain's names the machine. The edge's
        address on its network can change when the services restart (addresses are handed
        out again in start order), so it is pointed again after every restart."""
        network = f"{self.dep.project}-edge"
        address = docker(
            "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
            self.dep.container("edge"),
        ).stdout.strip()  # fmt: skip
        self.acme.point(DOMAIN, address)

    def edge_log(self) -> str:
        return self.dep.logs("edge")

    def edge_started_at(self) -> str:
        return docker("inspect", "-f", "{{.State.StartedAt}}", self.dep.container("edge")).stdout

    def wait_for(self, what: str, condition, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(1)
        pytest.fail(f"{what} within {timeout} s; the edge's log:\n{self.edge_log()[-6000:]}")


def issuer(certificate: x509.Certificate) -> str:
    return certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    base = tmp_path_factory.mktemp("https")
    config_dir, tls_dir = base / "config.d", base / "tls"
    config_dir.mkdir()
    tls_dir.mkdir()
    tls_dir.chmod(0o755)  # the edge's user reads the CA bundle (and later the own certificate)
    http_port, https_port, fake_port = free_port(), free_port(), free_port()
    client_secret = secrets.token_hex(20)
    (config_dir / "50-fake-github.py").write_text(
        f'c.GitHubOAuthenticator.authorize_url = "{browser_url(fake_port)}/login/oauth/authorize"\n'
    )
    project = f"hubdist-test-https-{secrets.token_hex(3)}"
    env = isolated_env(project, free_port(), config_dir)  # the proxy's port: unpublished
    env.update(
        HUBDIST_DOMAIN=DOMAIN,
        HUBDIST_HTTPS_PORT=str(https_port),
        HUBDIST_EDGE_HTTP_PORT=str(http_port),
        HUBDIST_ACME_EMAIL="admin@hub.test",
        HUBDIST_ACME_DIRECTORY="https://acme:14000/dir",
        HUBDIST_ACME_CA_BUNDLE="/etc/hubdist/tls/pebble-listener.pem",
        HUBDIST_TLS_DIR=str(tls_dir),
        HUBDIST_TLS_FALLBACK_LIFETIME=str(FALLBACK_LIFETIME),
        HUBDIST_TLS_CHECK_INTERVAL="5",
        # GitHub login; no OAUTH_CALLBACK_URL: it must default to https://DOMAIN:PORT/...
        GITHUB_CLIENT_ID=CLIENT_ID,
        GITHUB_CLIENT_SECRET=client_secret,
        GITHUB_URL=f"http://{GITHUB_ALIAS}:{fake_port}",
        GITHUB_ALLOWED_ORGANIZATIONS=ORG,
        HUBDIST_ADMIN_USERS=BROWSER_USER,
    )
    files = (COMPOSE_FILE, REPO / "docker-compose.https.yml")
    dep = Deployment(project, f"https://{DOMAIN}:{https_port}", env, files)
    with resolving_here(DOMAIN):
        try:
            # everything but the edge first: its network must exist for pebble to join
            first = ("hub", "proxy", "netguard", "singleuser")  # singleuser: built, not run
            up = dep.compose("up", "-d", "--build", *first, timeout=1200)
            assert up.returncode == 0, f"compose up failed:\n{up.stdout[-3000:]}{up.stderr}"
            with pebble_in_container(
                f"{project}-acme", f"{project}-edge", tls_dir, 8080, 8443, VALIDITY,
                require_base_image(),
            ) as acme:  # fmt: skip
                fake = start_fake(dep, fake_port, client_secret)
                up = dep.compose("up", "-d", "edge")
                assert up.returncode == 0, f"compose up edge failed:\n{up.stderr}"
                github = GitHubHub(dep, fake, client_secret)
                yield HttpsHub(dep, github, acme, tls_dir, http_port, https_port)
        finally:
            docker("rm", "-f", f"{project}-fakegithub", check=False)
            tear_down(dep)


def test_until_the_domain_resolves_the_hub_is_served_over_https_with_a_temporary_certificate(
    hub,
):
    temporary = hub.wait_for("a certificate served", hub.served, timeout=120)
    assert caddy.TEMPORARY_AUTHORITY in issuer(temporary)
    explained = hub.wait_for(
        "the failed order explained in the edge's log",
        lambda: [line for line in hub.edge_log().splitlines() if "hubdist edge: ordering" in line],
        timeout=120,
    )
    assert f"Check that {DOMAIN} resolves to this machine" in explained[0]

    # logins never travel in the clear: http:// only redirects, https:// serves the hub
    plain = http_session().get(
        f"http://{DOMAIN}:{hub.http_port}/hub/login", allow_redirects=False, timeout=10
    )
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"{hub.url}/hub/login"
    login_page = hub.wait_for(
        "the hub over https (certificate not checked: it is the temporary one)",
        lambda: _get(f"{hub.url}/hub/login", verify=False),
        timeout=120,
    )
    assert "Sign in with GitHub" in login_page.text
    assert "Strict-Transport-Security" not in login_page.headers  # the warning stays passable


def test_once_the_domain_resolves_the_certificate_comes_without_a_restart(hub):
    started_at = hub.edge_started_at()
    hub.point_dns_at_edge()

    real = hub.wait_for(
        "the certificate from the ACME server",
        lambda: (cert := hub.served()) and "Pebble" in issuer(cert) and cert,
        timeout=FALLBACK_LIFETIME * 2 / 3 + 60,
    )
    assert hub.edge_started_at() == started_at
    assert hub.acme.issued() == [real.serial_number]
    health = _get(f"{hub.url}/hub/health", verify=hub.trusted())
    assert health and health.status_code == 200
    # browsers are told to keep to https, once the edge serves the trusted certificate alone
    hsts = hub.wait_for(
        "Strict-Transport-Security",
        lambda: (
            (r := _get(f"{hub.url}/hub/health", verify=hub.trusted()))
            and r.headers.get("Strict-Transport-Security")
        ),
        timeout=30,
    )
    assert hsts == "max-age=31536000"


def test_restarting_every_service_orders_no_new_certificate(hub):
    held = hub.served()
    issued = hub.acme.issued()
    assert hub.dep.compose("restart", timeout=300).returncode == 0
    hub.point_dns_at_edge()  # for the renewal to come

    again = hub.wait_for(
        "the hub over https after the restart",
        lambda: _get(f"{hub.url}/hub/health", verify=hub.trusted()) and hub.served(),
        timeout=180,
    )
    assert again.serial_number == held.serial_number
    assert hub.acme.issued() == issued
    assert "held in the storage volume" in hub.edge_log()


def test_a_github_user_logs_in_spawns_and_runs_code_over_https(hub):
    hub.github.verify = hub.trusted()
    session, response = github_login(hub.github, USER)
    assert response.status_code == 200, response.text[:500]
    assert response.url.startswith(f"{hub.url}/hub/")
    # the hub knows it is served over https: its login cookie is Secure
    login_cookie = next(c for c in session.cookies if c.name == "jupyterhub-hub-login")
    assert login_cookie.secure

    spawn = api(session, hub.url, "POST", f"/users/{USER}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(session, hub.url, USER, hub.dep.logs)
    kernel = server_api(session, hub.url, USER, "POST", "/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    hub.kernel = KernelSocket.for_kernel(
        f"{hub.url}/user/{USER}/",
        kernel.json()["id"],
        headers={"Cookie": cookies},
        ca_certs=hub.trusted(),
    )
    assert hub.kernel.url.startswith(f"wss://{DOMAIN}:{hub.https_port}/user/{USER}/")
    assert hub.kernel.execute("x = 6*7\nprint(x)") == "42\n"


def test_a_renewal_keeps_the_open_kernel_websocket_running(hub):
    assert hub.kernel, "the previous test opens the kernel's websocket"
    before = hub.served()

    def renewed_while_connected():
        hub.kernel.stay(2)
        cert = hub.served()
        return cert and cert.serial_number != before.serial_number and cert

    renewed = hub.wait_for("a renewed certificate", renewed_while_connected, timeout=VALIDITY)
    assert "Pebble" in issuer(renewed)
    assert hub.kernel.execute("print(x + 1)") == "43\n"  # same socket, same kernel
    hub.kernel.close()


def test_the_hub_says_which_certificate_is_served_and_until_when(hub):
    until = hub.served().not_valid_after_utc.strftime("%Y-%m-%d %H:%M")

    def doctor_finding():
        doctor = hub.dep.compose(
            "exec", "-T", "hub", "hubdist", "doctor", "--only", "certificate", "--json"
        )
        findings = json.loads(doctor.stdout)["findings"]
        [finding] = [f for f in findings if f["check"] == "certificate"]
        return until in finding["message"] and finding  # the edge records it within seconds

    finding = hub.wait_for("the doctor naming the served certificate", doctor_finding, 60)
    assert finding["status"] == "ok", finding
    assert "Pebble" in finding["message"]
    shown = hub.dep.compose("exec", "-T", "hub", "hubdist", "config", "show").stdout
    assert f"# HTTPS for {DOMAIN}: certificate from Pebble" in shown


def test_chromium_trusting_the_acme_root_logs_in_over_https(hub, tmp_path):
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "pebble", "-t", "C,,", "-i", hub.trusted()],
        check=True,
    )
    with contextmanager(chromium)(tmp_path / "profile", home=home) as browser:
        wait = WebDriverWait(browser, 30)
        browser.get(f"{hub.url}/hub/login")
        button = wait.until(seen.element_to_be_clickable((By.LINK_TEXT, "Sign in with GitHub")))
        # a certificate error page would have no such button; the page is the hub's, secure
        assert browser.current_url.startswith(f"{hub.url}/hub/login")
        button.click()
        wait.until(seen.visibility_of_element_located((By.ID, "login"))).send_keys(BROWSER_USER)
        browser.find_element(By.ID, "authorize").click()
        wait.until(lambda b: b.current_url.startswith(f"{hub.url}/"))
        wait.until(lambda b: "/hub/login" not in b.current_url)
        screenshots(browser, "https")("logged-in")
        assert browser.current_url.startswith(f"https://{DOMAIN}:{hub.https_port}/")
    session, _ = github_login(hub.github, BROWSER_USER)
    api(session, hub.url, "DELETE", f"/users/{BROWSER_USER}/server")


def test_the_site_switches_to_its_own_certificate(hub):
    authority = Authority()
    cert_file, key_file = hub.tls_dir / "fullchain.pem", hub.tls_dir / "privkey.pem"
    serial = authority.issue(cert_file, key_file, DOMAIN)
    for path in (cert_file, key_file):
        path.chmod(0o644)  # the edge's user reads them through the read-only mount
    hub.dep.env.update(HUBDIST_TLS_CERT="fullchain.pem", HUBDIST_TLS_KEY="privkey.pem")
    assert hub.dep.compose("up", "-d", "edge").returncode == 0

    hub.wait_for(
        "the own certificate served",
        lambda: (cert := hub.served()) and cert.serial_number == serial,
        timeout=120,
    )
    started_at = hub.edge_started_at()
    replaced = authority.issue(cert_file, key_file, DOMAIN)
    for path in (cert_file, key_file):
        path.chmod(0o644)
    hub.wait_for(
        "the replaced certificate served",
        lambda: (cert := hub.served()) and cert.serial_number == replaced,
        timeout=60,
    )
    assert hub.edge_started_at() == started_at


def _get(url: str, verify) -> requests.Response | None:
    try:
        response = http_session().get(url, verify=verify, timeout=10)
    except requests.RequestException:
        return None
    return response if response.status_code == 200 else None
