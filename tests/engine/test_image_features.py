"""The single-user image starts faster (docs/performance.md) and still does everything a
JupyterLab user expects: the page opens and runs a cell in a real browser, a terminal runs
commands, an extension installed with pip in the running server shows up on the next page
load, and JupyterLab calls no news feed or update check unless the admin turns them on.

The browser test runs for the plain pip-install image too (benchmarks/images/
Dockerfile.baseline-lab, the image S12 compares against), so both are held to the same
features. Servers are spawned by a real hub with hubdist's DockerSpawner.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import time
import zipfile

import pytest
from selenium.common.exceptions import (
    ElementNotInteractableException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from benchmarks import prepare

from ..browser import chromium, screenshots
from ..hubrig import BASE_IMAGE, PREFIX, TEST_IMAGE, TOKEN, docker, docker_json, user_container
from ..image_probes import AIOHTTP_TLS_ANSWERS, aiohttp_tls_probe, iri_probe

pytestmark = pytest.mark.engine

PROBE = "hubdist-probe-extension"  # the labextension the pip-installed wheel carries
CONFIG_DATA = re.compile(
    r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S
)


@pytest.fixture(scope="module")
def baseline_image(engine_ready):
    """The plain `pip install jupyterhub jupyterlab` image on the tests' base, under this
    run's prefix (tests/run built it already: from the build cache here)."""
    tag = f"{PREFIX}-baseline-lab:1"
    built = prepare.build(tag, prepare.BASELINE_DOCKERFILE, prepare.baseline_build_args(BASE_IMAGE))
    assert built.returncode == 0, f"building {tag} failed:\n{built.stdout}\n{built.stderr}"
    yield tag
    docker("rmi", tag, check=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium(tmp_path_factory.mktemp("chromium-profile"))


def lab_hub(make_hub, image: str):
    return make_hub(f'c.DockerSpawner.image = "{image}"', name=image.replace("/", "_"))


def page_config(hub, user: str) -> dict:
    """The configuration JupyterLab's page is served with (a fresh page load)."""
    r = hub.user_get(user, "lab")
    assert r.status_code == 200, r.text[:500]
    found = CONFIG_DATA.search(r.text)
    assert found, r.text[:500]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("image", ["hubdist", "baseline"])
def test_jupyterlab_opens_in_a_browser_and_runs_a_cell(image, make_hub, username, browser, request):
    image = TEST_IMAGE if image == "hubdist" else request.getfixturevalue("baseline_image")
    hub = lab_hub(make_hub, image)
    hub.spawn(username)
    notebook = {
        "cells": [{"cell_type": "code", "source": "print('cell says', 6 * 7)",
                   "metadata": {}, "outputs": [], "execution_count": None}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    r = hub.user_request("PUT", username, "api/contents/probe.ipynb",
                         json={"type": "notebook", "content": notebook})  # fmt: skip
    assert r.status_code in (200, 201), r.text[:500]

    save = screenshots(browser, f"image-{'hubdist' if image == TEST_IMAGE else 'baseline'}")
    browser.delete_all_cookies()
    browser.get(f"{hub.url}/hub/login")
    try:
        WebDriverWait(browser, 30).until(
            seen.presence_of_element_located((By.ID, "username_input"))
        )
    finally:
        save("login")
    browser.find_element(By.ID, "username_input").send_keys(username)
    browser.find_element(By.ID, "password_input").send_keys("any")
    browser.find_element(By.ID, "login_submit").click()
    WebDriverWait(browser, 30).until(lambda b: "/hub/login" not in b.current_url)
    browser.get(f"{hub.url}/user/{username}/lab/tree/probe.ipynb")
    # JupyterLab renders the cell again while it loads (a reference found before goes
    # stale): the click goes to the cell as it is once the page takes it
    rerendered = (StaleElementReferenceException, ElementNotInteractableException)
    WebDriverWait(browser, 120, ignored_exceptions=rerendered).until(
        seen.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content"))
    )
    # the kernel is up when the status bar says so; a cell run before may be dropped
    WebDriverWait(browser, 120, ignored_exceptions=rerendered).until(
        seen.text_to_be_present_in_element((By.CSS_SELECTOR, ".jp-StatusBar-Widget"), "Idle")
    )
    WebDriverWait(browser, 30, ignored_exceptions=rerendered).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell .cm-content").click() or True
        )
    )
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    try:
        WebDriverWait(browser, 120).until(
            seen.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".jp-OutputArea-output"), "cell says 42"
            )
        )
    finally:
        save("notebook")
    hub.stop_server(username)


def terminal_run(hub, user: str, command: str, expect: str, timeout: float = 60) -> str:
    """Open a terminal as JupyterLab does (REST, then its websocket), type a command and
    return what the terminal showed once ``expect`` appeared."""
    r = hub.user_request("POST", user, "api/terminals")
    assert r.status_code == 200, r.text[:500]
    name = r.json()["name"]
    url = f"ws{hub.url.removeprefix('http')}/user/{user}/terminals/websocket/{name}"

    async def talk() -> str:
        request = HTTPRequest(url, headers={"Authorization": f"token {TOKEN}"})
        ws = await websocket_connect(request)
        await ws.write_message(json.dumps(["stdin", command + "\r"]))
        shown = ""
        deadline = time.monotonic() + timeout
        while expect not in shown:
            left = deadline - time.monotonic()
            assert left > 0, f"the terminal did not show {expect!r}; it showed:\n{shown}"
            try:
                raw = await asyncio.wait_for(ws.read_message(), left)
            except asyncio.TimeoutError:
                raise AssertionError(f"no {expect!r} in {timeout} s; it showed:\n{shown}") from None
            assert raw is not None, f"the terminal closed; it showed:\n{shown}"
            kind, *payload = json.loads(raw)
            if kind == "stdout":
                shown += payload[0]
        ws.close()
        return shown

    return asyncio.run(talk())


def probe_wheel() -> bytes:
    """A pure-Python wheel holding a prebuilt JupyterLab extension (its package.json in
    share/jupyter/labextensions/), as any extension on PyPI is shipped; made here, no index."""
    dist, version = "hubdist_probe", "0.1.0"
    data = f"{dist}-{version}.data/data/share/jupyter/labextensions/{PROBE}"
    package = {
        "name": PROBE,
        "version": version,
        "jupyterlab": {"extension": True, "_build": {"load": "static/remoteEntry.probe.js",
                                                     "extension": "./extension"}},
    }  # fmt: skip
    files = {
        f"{dist}/__init__.py": "",
        f"{data}/package.json": json.dumps(package),
        f"{data}/static/remoteEntry.probe.js": "// a probe, never loaded by the test\n",
        f"{dist}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        ),
        f"{dist}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hubdist-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist}-{version}.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
        wheel.writestr(f"{dist}-{version}.dist-info/RECORD", record)
    return buffer.getvalue()


def test_a_terminal_runs_commands_and_pip_installs_an_extension_that_shows_up(
    make_hub, username, tmp_path
):
    hub = lab_hub(make_hub, TEST_IMAGE)
    hub.spawn(username)
    assert PROBE not in json.dumps(page_config(hub, username)["federated_extensions"])
    shown = terminal_run(hub, username, "echo terminal-$((6 * 7)) && id -un", "terminal-42")
    assert "terminal-42" in shown

    wheel = tmp_path / "hubdist_probe-0.1.0-py3-none-any.whl"
    wheel.write_bytes(probe_wheel())
    wheel.chmod(0o644)
    docker("cp", str(wheel), f"{user_container(username)}:/tmp/{wheel.name}")
    shown = terminal_run(
        hub, username,
        f"pip install --no-index --no-deps --disable-pip-version-check /tmp/{wheel.name}"
        " && echo pip-done-$((1 + 1))",
        "pip-done-2", timeout=120,
    )  # fmt: skip
    assert "Successfully installed hubdist-probe" in shown, shown

    # the running server finds it on the next page load, no restart, no build
    names = [e["name"] for e in page_config(hub, username)["federated_extensions"]]
    assert PROBE in names, names
    listed = docker("exec", user_container(username), "jupyter", "labextension", "list")
    assert PROBE in listed.stdout + listed.stderr
    hub.stop_server(username)


def test_jupyterlab_fetches_no_news_and_checks_no_updates_by_default(make_hub, username):
    hub = lab_hub(make_hub, TEST_IMAGE)
    hub.spawn(username)
    settings = hub.user_get(
        username, "lab/api/settings/@jupyterlab/apputils-extension:notification"
    )
    assert settings.status_code == 200, settings.text[:500]
    # what the user has not set comes from the schema's defaults, which overrides.json sets
    defaults = {k: v.get("default") for k, v in settings.json()["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    assert page_config(hub, username)["news"] == {"disabled": True}
    # the server's own endpoints fetch nothing either
    news = hub.user_get(username, "lab/api/news")
    assert news.status_code == 200 and news.json()["news"] == [], news.text[:300]
    update = hub.user_get(username, "lab/api/update")
    assert update.status_code == 200 and update.json()["notification"] is None, update.text
    hub.stop_server(username)


# Finds the single-user server's Python process in its container and prints, as JSON, the
# files of the hub's database layer its memory maps (SQLAlchemy's compiled modules are mapped
# once SQLAlchemy is imported; alembic and jupyterhub.orm come only with it).
SERVER_MAPS_PROBE = """\
import json, os, pathlib
found = {}
for proc in pathlib.Path("/proc").glob("[0-9]*"):
    try:
        argv = (proc / "cmdline").read_bytes().decode().split("\\0")
        maps = (proc / "maps").read_text()
    except OSError:
        continue
    server = any(a.endswith("/jupyterhub-singleuser") for a in argv[1:2])
    if server and "python" in argv[0] and int(proc.name) != os.getpid():
        found[proc.name] = sorted({line.split()[-1] for line in maps.splitlines()
                                   if "/sqlalchemy/" in line or "/alembic/" in line})
print(json.dumps(found))
"""


def test_the_server_runs_without_the_hubs_database_layer(make_hub, username):
    """The image's build step keeps SQLAlchemy, alembic and jupyterhub.orm out of the
    single-user server (about 0.4 CPU-s of every start, docs/performance.md): a server
    spawned by the hub, after serving pages and the API through the hub's OAuth and scope
    checks, has none of them loaded, and its request log still works."""
    hub = lab_hub(make_hub, TEST_IMAGE)
    hub.spawn(username)
    assert page_config(hub, username)["hubUser"]  # the hub's auth named who asked
    listing = hub.user_get(username, "api/contents")
    assert listing.status_code == 200, listing.text[:300]
    container = user_container(username)
    found = json.loads(docker("exec", container, "python3", "-c", SERVER_MAPS_PROBE).stdout)
    assert len(found) == 1, f"one server process expected: {found}"
    assert list(found.values()) == [[]], f"the server loaded the hub's database layer: {found}"
    logged = docker("logs", container).stderr
    assert re.search(rf"200 GET /user/{username}/api/contents", logged), logged[-2000:]
    hub.stop_server(username)


# The edited JupyterHub modules (images/singleuser/edits/) do what JupyterHub's own do: scope
# checks without a database give the same answers, and the hub's code still finds the names
# whose import moved (scopes' database modules on first use, catch_db_error's SQLAlchemyError,
# the request log's quiet health checks once the hub's handlers are loaded).
EDITED_JUPYTERHUB_PROBE = """\
import asyncio, logging, sys, types
import jupyterhub.singleuser, jupyterhub.singleuser.extension
print("loaded:", [m for m in ("sqlalchemy", "alembic", "jupyterhub.orm") if m in sys.modules])
from jupyterhub import scopes
print("scopes:", sorted(scopes._intersect_expanded_scopes(
    {"read:users!user=ana", "access:servers"}, {"read:users", "access:servers!server=ana/"})))
print("none:", sorted(scopes._intersect_expanded_scopes(
    {"access:servers!user=ana"}, {"access:servers!server=bob/"})))
import jupyterhub.orm
print("orm on first use:", scopes.orm.User is jupyterhub.orm.User)
from sqlalchemy.exc import OperationalError
from jupyterhub.utils import catch_db_error
class Handler:
    log = logging.getLogger("probe")
    rolled_back = False
    class db:
        @staticmethod
        def rollback():
            Handler.rolled_back = True
    @catch_db_error
    def query(self):
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))
asyncio.run(Handler().query())
print("rolled back:", Handler.rolled_back)
from unittest import mock
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.web import Application, RequestHandler
from jupyterhub.log import log_request
levels = []
class Keep(logging.Handler):
    def emit(self, record):
        levels.append(record.levelname)
logging.getLogger("tornado.access").addHandler(Keep())
logging.getLogger("tornado.access").setLevel(logging.DEBUG)
app = Application(hub=types.SimpleNamespace(base_url="/hub/"))  # all a hub handler asks here
def served(handler_class):
    class Served(handler_class):
        current_user = None
    start = RequestStartLine("GET", "/", "HTTP/1.1")
    request = HTTPServerRequest(start_line=start, headers=HTTPHeaders(Host="probe"),
                                connection=mock.Mock())
    log_request(Served(app, request))
served(RequestHandler)
from jupyterhub.handlers.pages import HealthCheckHandler
served(HealthCheckHandler)
print("request log levels:", levels)
"""


def test_the_edited_jupyterhub_modules_answer_as_jupyterhubs_own(engine_ready):
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", TEST_IMAGE,
                    "-c", EDITED_JUPYTERHUB_PROBE)  # fmt: skip
    assert result.stdout.splitlines() == [
        "loaded: []",
        "scopes: ['access:servers!server=ana/', 'read:users!user=ana']",
        "none: []",
        "orm on first use: True",
        "rolled back: True",
        "request log levels: ['INFO', 'DEBUG']",  # a hub health check stays quiet
    ], result.stdout + result.stderr


def test_iri_formats_are_still_checked_after_the_deferred_grammar(engine_ready):
    """The grammar work moved from every start to the first IRI check: the check is the same."""
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", TEST_IMAGE,
                    "-c", iri_probe("jsonschema"))  # fmt: skip
    assert result.stdout.split() == ["True", "False", "False"], result.stdout + result.stderr


def test_aiohttp_makes_its_ssl_contexts_on_first_use_and_still_verifies(engine_ready):
    """The server imports aiohttp (JupyterHub's HTTP client) without loading the CA bundle
    (twice: 0.2 CPU-s on the bookworm base, 0.07 on trixie); an HTTPS request still refuses
    an unknown certificate by default."""
    result = docker("run", "--rm", "--network", "none", "--entrypoint", "python3", TEST_IMAGE,
                    "-c", aiohttp_tls_probe("jupyterhub.singleuser"))  # fmt: skip
    assert result.stdout.splitlines() == AIOHTTP_TLS_ANSWERS, result.stdout + result.stderr


QUICK_EXIT_PROBE = """\
import atexit, sys
class TornDown:
    def __del__(self):
        print("interpreter taken apart", flush=True)
keep = TornDown()
atexit.register(print, "exit functions ran")
print("buffered output kept", end=" ")
sys.exit(3)
"""


@pytest.mark.parametrize("program", ["jupyter-server", "a-users-script"])
def test_a_server_program_ends_with_its_status_without_taking_python_apart(program, engine_ready):
    """A stopped server exits with the status it gave sys.exit, its exit functions run and
    its output flushed, and skips the interpreter's teardown (a third of a CPU-second per
    stop); any other program (kernels, terminals, users' scripts) ends as Python does."""
    result = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", TEST_IMAGE, "-c",
        f"cat > /tmp/{program} <<'EOF'\n{QUICK_EXIT_PROBE}EOF\npython3 /tmp/{program}",
        check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "buffered output kept exit functions ran" in result.stdout
    torn_down = "interpreter taken apart" in result.stdout
    assert torn_down == (program == "a-users-script"), result.stdout


def test_a_stopped_jupyterlab_cleans_up_and_exits_0_and_a_refused_start_keeps_its_status(
    engine_ready,
):
    name = f"{PREFIX}-quick-exit"
    docker("run", "-d", "--name", name, "--network", "none", TEST_IMAGE, "jupyter-lab")
    try:
        deadline = time.monotonic() + 60
        while "is running at" not in docker("logs", name).stderr:
            assert time.monotonic() < deadline, docker("logs", name).stderr
            time.sleep(0.2)
        docker("stop", name)
        state = docker_json("inspect", name)[0]["State"]
        assert state["ExitCode"] == 0, docker("logs", name).stderr
        assert "Shutting down" in docker("logs", name).stderr  # its own clean-up ran first
    finally:
        docker("rm", "-f", name, check=False)
    refused = docker("run", "--rm", "--network", "none", TEST_IMAGE, "jupyter-lab",
                     "--no-such-flag", check=False)  # fmt: skip
    assert refused.returncode == 2, refused.stderr  # traitlets' status for a bad option
