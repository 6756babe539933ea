"""The hub's long-lived secrets: given by the operator, or generated once and kept.

Each must survive restarts and upgrades: a new cookie secret logs every user out, a new proxy
token locks the hub out of the proxy (which runs in its own container), and a new crypt key
makes stored auth state unreadable (the doctor's read-only API token is kept the same way).
So each comes, in this order, from

  1. its own variable (``JPY_COOKIE_SECRET``, ...), the one JupyterHub or the proxy reads;
  2. ``<VARIABLE>_FILE``, a file holding it: Docker secrets under ``docker stack deploy``;
  3. a file made on first start (random, mode 0600) in a folder kept in a volume, and read
     again on every later start.

A secret file that every user on the host can read is refused, not used: a Docker secret is
mounted 0444 unless the stack file says otherwise, and a leaked cookie secret lets anyone
forge any user's login. Nothing here prints a value; ``Resolved.source`` says where a
secret came from, and its repr leaves the value out.

Pure functions over a mapping and paths, so they are tested without a hub or a container.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex

DEFAULT_DATA_DIR = "/srv/jupyterhub"
RANDOM_BYTES = 32  # 64 hex characters; the cookie secret must be 32 bytes of hex

_HEX = re.compile(r"^[0-9a-fA-F]+$")


class SecretError(Exception):
    """A secret that cannot be used; the message says what to do and never holds the value."""


def _hex_32(value: str) -> str | None:
    """JupyterHub decodes JPY_COOKIE_SECRET as hex; anything else fails deep inside it."""
    if _HEX.match(value) and len(value) % 2 == 0:
        return None
    return "must be hex (make one with: openssl rand -hex 32)"


@dataclass(frozen=True)
class Spec:
    variable: str  # what the consumer reads: JupyterHub, or configurable-http-proxy
    filename: str  # the file generated on first start
    label: str  # for messages
    validate: Callable[[str], str | None] | None = None

    @property
    def file_variable(self) -> str:
        return f"{self.variable}_FILE"


COOKIE_SECRET = Spec("JPY_COOKIE_SECRET", "jupyterhub_cookie_secret", "cookie secret", _hex_32)
PROXY_TOKEN = Spec("CONFIGPROXY_AUTH_TOKEN", "proxy_auth_token", "proxy auth token")
CRYPT_KEY = Spec("JUPYTERHUB_CRYPT_KEY", "jupyterhub_crypt_key", "auth state crypt key")
#: the token `hubdist doctor` reads the hub's servers with (hubdist.doctor); kept with the
#: data, readable by root only, like the others
DOCTOR_TOKEN = Spec("HUBDIST_DOCTOR_TOKEN", "doctor_api_token", "doctor's API token")


@dataclass(frozen=True)
class Resolved:
    spec: Spec
    value: str = field(repr=False)
    source: str  # where it came from, fit for a log line


def data_dir(environ: Mapping[str, str]) -> Path:
    """Where the hub keeps its state (database, trial passwords, its own secrets)."""
    return Path(environ.get("HUBDIST_DATA_DIR") or DEFAULT_DATA_DIR)


def shared_dir(environ: Mapping[str, str]) -> Path:
    """Where the generated proxy token lives: a folder both the hub and the proxy mount.

    A folder of its own, so the proxy, the one container facing the network, never sees the
    database or the cookie secret. Defaults to the data folder (one container, no proxy of
    its own).
    """
    return Path(environ.get("HUBDIST_SHARED_DIR") or data_dir(environ))


def resolve(spec: Spec, environ: Mapping[str, str], store: Path) -> Resolved:
    """The secret from the variable, the ``_FILE`` variable, or ``store/filename``."""
    given = from_environment(environ, spec.variable)
    if given is not None:
        resolved = Resolved(spec, *given)
    else:
        path = store / spec.filename
        value, created = load_or_create(path)
        resolved = Resolved(spec, value, f"{path} ({'generated now' if created else 'kept'})")
    problem = spec.validate(resolved.value) if spec.validate else None
    if problem:
        raise SecretError(f"the {spec.label} from {resolved.source} {problem}")
    return resolved


def from_environment(
    environ: Mapping[str, str], variable: str, private: bool = True
) -> tuple[str, str] | None:
    """(value, where it came from) of ``variable`` or of the file ``<variable>_FILE`` names
    (refused if every user may read it, unless not ``private``); None if neither is set."""
    direct = environ.get(variable, "").strip()
    from_file = environ.get(f"{variable}_FILE", "").strip()
    if direct and from_file:
        raise SecretError(f"both {variable} and {variable}_FILE are set; set only one of them")
    if direct:
        return direct, f"environment variable {variable}"
    if not from_file:
        return None
    path = Path(from_file)
    try:
        value = read_private(path) if private else path.read_text().strip()
    except FileNotFoundError:
        raise SecretError(
            f"{variable}_FILE names {path}, which does not exist "
            "(for a Docker secret: is it listed under the service's secrets?)"
        ) from None
    if not value:
        raise SecretError(f"{variable}_FILE names {path}, which is empty")
    return value, f"{path} ({variable}_FILE)"


def read_private(path: Path) -> str:
    """The stripped contents of ``path``, refused if every user may read it, or empty."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IROTH:
        raise SecretError(
            f"{path} is readable by every user (mode {mode:04o}); make it private with: "
            f"chmod 600 {path}   (a Docker secret: give it mode: 0400 in the stack file)"
        )
    value = path.read_text().strip()
    if not value:
        raise SecretError(f"{path} is empty; write the secret into it, or delete it")
    return value


def load_or_create(path: Path, make: Callable[[], str] | None = None) -> tuple[str, bool]:
    """The secret kept at ``path``, made there first if missing (by ``make``, default 32
    random bytes in hex); True if made now.

    The hub and the proxy start at the same time and may both find no token: each writes a
    complete private file under a name of its own, then hard-links it into place, which
    fails if the other got there first. Whoever loses reads the winner's; nobody ever reads
    a half-written file.
    """
    try:
        return read_private(path), False
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SecretError(f"cannot create {path}: {exc.strerror} (is a volume mounted?)") from None
    try:
        value = make() if make else token_hex(RANDOM_BYTES)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return read_private(path), False
        return value, True
    finally:
        draft.unlink(missing_ok=True)


def export(resolved: Resolved, environ: MutableMapping[str, str]) -> None:
    """Hand the secret to JupyterHub or the proxy the one way both read it: the variable."""
    environ[resolved.spec.variable] = resolved.value
    environ.pop(resolved.spec.file_variable, None)
