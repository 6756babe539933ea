"""PostgreSQL as the hub's database, on one compose deployment, the way an admin gets there:
a hub runs on SQLite (the default) with a user, an API token and a running server; the admin
follows docs/operations.md (Database): stops the hub, starts the postgres service,
`hubdist db migrate`, then ./hubdist-up with HUBDIST_DATABASE=postgres. The tests, in file
order on that one deployment: everything moved and keeps working; a new user logs in,
starts a server and runs code, all now recorded in PostgreSQL; restarting the hub and
recreating the database's container lose nothing; a second migration is refused; a
database at an older schema revision is copied before JupyterHub upgrades it.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from ..hubrig import docker
from .deployment import (
    BUILD_TIMEOUT,
    REPO,
    Deployment,
    api,
    deployed,
    http_session,
    login,
    names,
    server_api,
    wait_for_server,
    wait_healthy,
)
from .kernel import KernelSocket

pytestmark = pytest.mark.e2e

OLD_USER, NEW_USER = "alice", "bob"
TOKENS: dict[str, str] = {}  # each user's API token, by name


@dataclass
class User:
    name: str
    session: requests.Session
    kernel_id: str = ""
    token: str = ""
    container_id: str = ""
    seen: dict = field(default_factory=dict)

    def socket(self, dep: Deployment) -> KernelSocket:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        return KernelSocket.for_kernel(
            f"{dep.url}/user/{self.name}/", self.kernel_id, headers={"Cookie": cookies}
        )


def start_server(dep: Deployment, name: str, password: str) -> User:
    """``name`` logs in with the trial password, starts a server and a kernel holding x = 42."""
    s, response = login(dep.url, name, password)
    assert response.status_code == 200, response.text[:500]
    spawn = api(s, dep.url, "POST", f"/users/{name}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(s, dep.url, name, dep.logs)
    kernel = server_api(s, dep.url, name, "POST", "/kernels", json={})
    assert kernel.status_code == 201, kernel.text
    user = User(name, s, kernel.json()["id"])
    user.container_id = docker("inspect", "-f", "{{.Id}}", dep.user_object(name)).stdout.strip()
    with user.socket(dep) as socket:
        assert socket.execute("x = 6*7\nprint(x)") == "42\n"
    return user


def whoami(dep: Deployment, token: str) -> requests.Response:
    headers = {"Authorization": f"token {token}"}
    return http_session().get(f"{dep.url}/hub/api/user", headers=headers, timeout=15)


def users_in_postgres(dep: Deployment) -> list[str]:
    """The user names as PostgreSQL itself holds them (not as the hub reports them)."""
    query = (
        "PGPASSWORD=$(cat /run/hubdist-database/postgres_password) psql -h 127.0.0.1 "
        "-U hubdist -d hubdist -Atc 'SELECT name FROM users ORDER BY name'"
    )
    done = dep.compose("exec", "-T", "postgres", "sh", "-c", query)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A hub on SQLite, as every deployment starts; the postgres image is built with it."""
    with deployed("postgres", tmp_path_factory.mktemp("config.d")) as dep:
        yield dep


@pytest.fixture(scope="module")
def password(deployment) -> str:
    """The trial password, in the log of the hub's first start only (kept in its volume)."""
    return deployment.password()


@pytest.fixture(scope="module")
def old_user(deployment, password) -> User:
    """A user of the SQLite hub with a running server and an API token."""
    user = start_server(deployment, OLD_USER, password)
    made = api(user.session, deployment.url, "POST", f"/users/{OLD_USER}/tokens", json={})
    assert made.status_code == 201, made.text
    user.token = made.json()["token"]
    assert whoami(deployment, user.token).json()["name"] == OLD_USER
    return user


@pytest.fixture(scope="module")
def moved(deployment, old_user) -> subprocess.CompletedProcess:
    """The documented move to PostgreSQL; ./hubdist-up's output."""
    env = deployment.env
    env["HUBDIST_DATABASE"] = "postgres"  # in .env, for a real deployment
    stop = deployment.compose("stop", "hub")
    assert stop.returncode == 0, stop.stderr
    postgres = deployment.compose("--profile", "postgres", "up", "-d", "--wait", "postgres")
    assert postgres.returncode == 0, postgres.stderr
    migration = deployment.compose(
        "--profile", "postgres", "run", "--rm", "--no-deps", "hub", "hubdist", "db", "migrate"
    )
    assert migration.returncode == 0, migration.stdout + migration.stderr
    assert "-> postgresql+psycopg://hubdist:***@postgres:5432/hubdist" in migration.stdout
    assert "users 1" in migration.stdout and "api_tokens" in migration.stdout
    # ./hubdist-up reads the project and settings as compose does; the developer's .env
    # stays out
    env.update(COMPOSE_PROJECT_NAME=deployment.project, COMPOSE_ENV_FILES="/dev/null")
    up = subprocess.run(
        [str(REPO / "hubdist-up")], env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    env["COMPOSE_PROFILES"] = "postgres"  # for the tests' compose commands and the teardown
    wait_healthy(deployment)
    return up


def test_the_hub_moves_to_postgres_with_its_users_tokens_and_running_servers(
    deployment, old_user, moved
):
    assert "waiting for hub proxy netguard postgres" in moved.stdout
    logs = deployment.logs()
    assert "hubdist start: PostgreSQL password from /run/hubdist-database/postgres_password" in logs
    # the token made on SQLite authenticates against PostgreSQL
    assert whoami(deployment, old_user.token).json()["name"] == OLD_USER
    # the login cookie too (same cookie secret, same user row), and the server was adopted:
    # the same container, its kernel still holding x
    server = api(old_user.session, deployment.url, "GET", f"/users/{OLD_USER}").json()
    assert server["servers"][""]["ready"] is True, server
    current = docker("inspect", "-f", "{{.Id}}", deployment.user_object(OLD_USER)).stdout
    assert current.strip() == old_user.container_id
    with old_user.socket(deployment) as socket:
        assert socket.execute("print(x + 1)") == "43\n"
    assert users_in_postgres(deployment) == [OLD_USER]


def test_on_postgres_a_new_user_logs_in_starts_a_server_and_runs_code(deployment, password, moved):
    new_user = start_server(
        deployment, NEW_USER, password
    )  # a new row: ids go on past the copied ones
    made = api(new_user.session, deployment.url, "POST", f"/users/{NEW_USER}/tokens", json={})
    assert made.status_code == 201, made.text
    TOKENS[NEW_USER] = made.json()["token"]
    assert whoami(deployment, TOKENS[NEW_USER]).json()["name"] == NEW_USER
    assert users_in_postgres(deployment) == [OLD_USER, NEW_USER]


def test_restarting_the_hub_and_recreating_postgres_keeps_users_and_servers(
    deployment, old_user, moved
):
    recreate = deployment.compose(
        "--profile", "postgres", "up", "-d", "--wait", "--force-recreate", "--no-deps", "postgres"
    )
    assert recreate.returncode == 0, recreate.stderr
    restart = deployment.compose("restart", "hub")
    assert restart.returncode == 0, restart.stderr
    wait_healthy(deployment)
    TOKENS[OLD_USER] = old_user.token
    for name in (OLD_USER, NEW_USER):
        model = whoami(deployment, TOKENS[name]).json()
        assert model["name"] == name and model["servers"][""]["ready"] is True, model
    assert users_in_postgres(deployment) == [OLD_USER, NEW_USER]


def test_a_second_migration_into_the_used_database_is_refused(deployment, moved):
    # in the running hub's container: it is refused before anything is written
    again = deployment.compose("exec", "-T", "hub", "hubdist", "db", "migrate")
    assert again.returncode == 1
    assert "already holds a hub's data (rows in" in again.stderr, again.stderr
    assert users_in_postgres(deployment) == [OLD_USER, NEW_USER]


# In the hub's container: a database of this PostgreSQL server made by JupyterHub's ORM
# and taken one schema revision back by its own migration, as an older JupyterHub leaves
# it; then the hub's start step that copies it, and JupyterHub's upgrade. A result in JSON.
PRE_UPGRADE_SCRIPT = """
import json, shutil, sys
from pathlib import Path
import sqlalchemy, sqlalchemy.orm
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from jupyterhub import dbutil, orm
from hubdist.database import migrate, snapshot
from hubdist.services import start

secret_file = "/run/hubdist-database/postgres_password"
secret = Path(secret_file).read_text().strip()
server = f"postgresql+psycopg://hubdist:{secret}@postgres:5432"
admin = sqlalchemy.create_engine(f"{server}/hubdist", isolation_level="AUTOCOMMIT")
with admin.connect() as c:
    c.exec_driver_sql("DROP DATABASE IF EXISTS preupgrade")
    c.exec_driver_sql("CREATE DATABASE preupgrade")
url = f"{server}/preupgrade"
db = orm.new_session_factory(url)()
db.add(orm.OAuthClient(identifier="jupyterhub"))  # the hub's own, which tokens name
db.add_all([orm.User(name="carol"), orm.User(name="dave")])
db.commit()
token = orm.User.find(db, "dave").new_api_token(note="pre-upgrade")
db.close()
with dbutil._temp_alembic_ini(url) as ini:
    config = Config(ini)
    older = ScriptDirectory.from_config(config).get_revision(migrate.schema_head()).down_revision
    command.downgrade(config, older)
data = Path("/tmp/preupgrade-test")
environ = {
    "HUBDIST_DATA_DIR": str(data),
    "HUBDIST_DATABASE": "postgresql://hubdist@postgres:5432/preupgrade",
    "PGPASSWORD_FILE": secret_file,
}
start.protect_database(environ)
dbutil.upgrade(url)
[copy] = (data / "backups").iterdir()
engine = sqlalchemy.create_engine(f"sqlite:///{copy}")
with sqlalchemy.orm.Session(engine) as session:
    users = sorted(session.scalars(sqlalchemy.select(orm.User.name)))
    token_owner = orm.APIToken.find(session, token).user.name
engine.dispose()
with sqlalchemy.create_engine(url).connect() as c:
    now = c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
result = dict(
    older=older, head=migrate.schema_head(), copy=str(copy), copy_revision=snapshot.revision(copy),
    users=users, token_owner=token_owner, now=now,
)
shutil.rmtree(data)
sqlalchemy.orm.close_all_sessions()
with admin.connect() as c:
    c.exec_driver_sql("DROP DATABASE preupgrade WITH (FORCE)")
print(json.dumps(result))
"""


def test_before_jupyterhub_upgrades_a_postgres_schema_the_hub_copies_the_database(
    deployment, moved
):
    done = deployment.compose("exec", "-T", "hub", "python", "-c", PRE_UPGRADE_SCRIPT)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    older, copy = result["older"], result["copy"]
    assert older != result["head"] and result["now"] == result["head"]
    assert copy.startswith(f"/tmp/preupgrade-test/backups/pre-upgrade-{older}-")
    assert result["copy_revision"] == older  # the database as the older JupyterHub left it
    assert result["users"] == ["carol", "dave"] and result["token_owner"] == "dave"
    assert (
        "hubdist start: the database (postgresql+psycopg://hubdist:***@postgres:5432/preupgrade) "
        f"is at schema revision {older}"
    ) in done.stderr, done.stderr
    assert f"database copied to {copy} (2 users) before the upgrade" in done.stderr


def test_a_password_the_database_refuses_stops_the_hub_saying_so(deployment, moved):
    # the hub's entry point, in the hub's container, given another password than the one
    # PostgreSQL was made with: it stops before JupyterHub runs, naming where it came from
    start = deployment.compose(
        "exec", "-T", "-e", "PGPASSWORD=not-the-one", "hub", "hubdist", "start"
    )
    assert start.returncode == 1
    assert (
        "hubdist start: the database HUBDIST_DATABASE=postgres selects, "
        "postgresql+psycopg://hubdist:***@postgres:5432/hubdist, refuses the password "
        "(from environment variable PGPASSWORD)"
    ) in start.stderr, start.stderr
    assert "not-the-one" not in start.stderr
    assert "hubdist start: exec" not in start.stderr  # JupyterHub never started


# -- the backup drill (docs/operations.md, Backup and restore) on the same deployment ------

DRILL_TEXT = "kept through the drill"
NAMED = "thesis"


def documented(marker: str) -> str:
    """The shell block docs/operations.md marks with ``<!-- marker -->``."""
    text = (REPO / "docs" / "operations.md").read_text()
    return text.split(f"<!-- {marker} -->\n```sh\n", 1)[1].split("```", 1)[0]


def run_documented(dep: Deployment, marker: str, folder) -> subprocess.CompletedProcess:
    """Run the documented commands in ``folder``, as the admin does next to the compose
    file (here named by COMPOSE_FILE, so the archives stay out of the checkout)."""
    script = documented(marker).replace("./hubdist-up", str(REPO / "hubdist-up"))
    env = {
        **dep.env,
        "COMPOSE_FILE": str(REPO / "docker-compose.yml"),
        "COMPOSE_PROJECT_NAME": dep.project,
        "COMPOSE_ENV_FILES": "/dev/null",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, f"{marker} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def left_of(dep: Deployment) -> dict[str, list[str]]:
    return {
        "containers": names("ps", "-a", prefix=dep.project),
        "volumes": names("volume", "ls", prefix=dep.project),
    }


def wait_ready(session: requests.Session, dep: Deployment, server: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        model = api(session, dep.url, "GET", f"/users/{OLD_USER}").json()
        if model["servers"].get(server, {}).get("ready"):
            return
        time.sleep(1)
    pytest.fail(f"{OLD_USER}'s server {server!r} not ready:\n{dep.logs()[-3000:]}")


@pytest.fixture(scope="module")
def backed_up(deployment, old_user, password, moved, tmp_path_factory):
    """The hub at work (a file in a user's volume, a named server, a configuration layer)
    backed up by the documented commands while it runs, then everything destroyed."""
    folder = tmp_path_factory.mktemp("drill")
    layer = Path(deployment.env["HUBDIST_CONFIG_DIR"]) / "50-site.py"
    layer.write_text("c.JupyterHub.shutdown_on_logout = False\n")
    with old_user.socket(deployment) as socket:
        code = f"open('/home/jovyan/work/drill.txt', 'w').write({DRILL_TEXT!r})"
        socket.execute(code)
    named = api(old_user.session, deployment.url, "POST", f"/users/{OLD_USER}/servers/{NAMED}")
    assert named.status_code in (201, 202), named.text
    wait_ready(old_user.session, deployment, NAMED)  # running while the backup is taken
    backup = run_documented(deployment, "backup", folder)
    assert ": 2 users, " in backup.stderr, backup.stderr
    assert (folder / f"volume-{deployment.user_volume(OLD_USER)}.tar.gz").is_file()

    # everything of the deployment goes: servers, services, volumes (the images stay, as
    # the same release is checked out again)
    servers = docker("ps", "-aq", "--filter", f"name={deployment.project}-").stdout.split()
    docker("rm", "-fv", *servers)
    down = deployment.compose("--profile", "*", "down", "-v", timeout=180)
    assert down.returncode == 0, down.stderr
    volumes = left_of(deployment)["volumes"]
    if volumes:
        docker("volume", "rm", *volumes)
    assert left_of(deployment) == {"containers": [], "volumes": []}
    return folder


def test_after_losing_everything_the_documented_restore_brings_the_hub_back(
    deployment, old_user, password, backed_up
):
    restored_config = backed_up / "config.d"
    deployment.env["HUBDIST_CONFIG_DIR"] = str(restored_config)  # where the archive puts it
    postgres = deployment.compose("--profile", "postgres", "up", "-d", "--wait", "postgres")
    assert postgres.returncode == 0, postgres.stderr  # empty: the restore fills it
    restore = run_documented(deployment, "restore", backed_up)
    assert "database postgresql+psycopg://hubdist@postgres:5432/hubdist" in restore.stderr
    assert f"users' volume {deployment.user_volume(OLD_USER)} created" in restore.stderr
    wait_healthy(deployment)

    # the same API tokens, the same users, with their named server, in PostgreSQL again
    for name, token in ((OLD_USER, old_user.token), (NEW_USER, TOKENS[NEW_USER])):
        assert whoami(deployment, token).json()["name"] == name
    assert users_in_postgres(deployment) == [OLD_USER, NEW_USER]
    # the same trial password logs in; the servers that ran are found stopped
    session, response = login(deployment.url, OLD_USER, password)
    assert response.status_code == 200, response.text[:500]
    model = api(session, deployment.url, "GET", f"/users/{OLD_USER}",
                params={"include_stopped_servers": "1"}).json()  # fmt: skip
    assert set(model["servers"]) == {"", NAMED}, model
    assert not any(server["ready"] for server in model["servers"].values()), model
    # the user starts again and finds the file
    spawn = api(session, deployment.url, "POST", f"/users/{OLD_USER}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(session, deployment.url, OLD_USER, deployment.logs)
    content = server_api(session, deployment.url, OLD_USER, "GET", "/contents/work/drill.txt")
    assert content.status_code == 200, content.text
    assert content.json()["content"] == DRILL_TEXT
    # and the configuration layer is read again
    assert (restored_config / "50-site.py").is_file()
    shown = deployment.compose("exec", "-T", "hub", "hubdist", "config", "show").stdout
    assert "50-site.py" in shown, shown[-2000:]
