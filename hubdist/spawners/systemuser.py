"""SystemUserSpawner: containers that run as the host's own users, with their home directories.

The uid and gid come from the user database the hub sees (``pwd``). A hub running in a
container must see the host's: mount /etc/passwd and /etc/group read-only into it (the
shipped compose file shows how). A JupyterHub user with no host account gets a clear spawn
error; map login names to host accounts with ``Authenticator.username_map``.

System accounts are never served: a login named ``root`` would otherwise get a container
running as uid 0 with the host's /root mounted read-write, which is root on the host for
anyone who can log in with that name. Accounts below ``min_uid`` (the host's UID_MIN) are
refused.
"""

from __future__ import annotations

import grp
import pwd
from pathlib import Path

from traitlets import Bool, Integer, Unicode

from ..names import check_host_path
from .base import SpawnFailed, described_default
from .docker import DockerSpawner


class SystemUserSpawner(DockerSpawner):
    """DockerSpawner whose containers run as the matching host user, home mounted."""

    host_homedir_format_string = Unicode(
        "/home/{username}",
        allow_none=True,
        config=True,
        help="""Host path of the user's home directory; {username} is the JupyterHub name
        (not escaped). Empty or None: the home directory from the user database.""",
    )
    image_homedir_format_string = Unicode(
        "/home/{username}",
        config=True,
        help="""Where the home directory is mounted in the container; also HOME and the
        working directory.""",
    )
    homedir_bind_propagation = Unicode(
        "",
        config=True,
        help="""Mount propagation of the home bind (e.g. "rslave"); empty: Docker's.""",
    )
    run_as_root = Bool(
        False,
        config=True,
        help="""Start the container as root and let the image become the user (NB_USER,
        NB_UID, NB_GID; the hubdist single-user image does). False: the container runs as
        uid:gid directly.""",
    )
    min_uid = Integer(
        config=True,
        help="""Lowest uid a server may run as. Accounts below it (root, daemon, and the
        other system accounts) are refused with a spawn error naming the user, so a login
        named "root" never gets a container running as root with the host's /root. Lower
        it only if real people have lower uids on this host.""",
    )

    @described_default(
        "min_uid", "UID_MIN from the hub's /etc/login.defs, else 1000 (useradd's first uid)"
    )
    def _min_uid_default(self) -> int:
        return login_defs_uid_min()

    user_id = Integer(-1, help="The host uid (from the user database).").tag(state="user_id")
    group_id = Integer(-1, help="The host gid (from the user database).").tag(state="group_id")

    # -- the host account ---------------------------------------------------------------------

    def _account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self.user.name)
        except KeyError:
            raise SpawnFailed(
                f"There is no account {self.user.name!r} on the host, so no server can run as "
                "it. Ask an administrator to create it, or to map this login to an existing "
                "account (Authenticator.username_map). If the hub runs in a container, it "
                "needs the host's /etc/passwd and /etc/group mounted read-only."
            ) from None

    def _lookup_ids(self) -> None:
        account = self._account()
        self.check_account(account)
        self.user_id, self.group_id = account.pw_uid, account.pw_gid
        self._host_home = account.pw_dir

    def check_account(self, account: pwd.struct_passwd) -> None:
        """Refuse system accounts: uid below min_uid, or the root group as primary group."""
        name = self.user.name
        if account.pw_uid < self.min_uid:
            raise SpawnFailed(
                f"The host account {name!r} has uid {account.pw_uid}, below "
                f"SystemUserSpawner.min_uid ({self.min_uid}): servers never run as system "
                "accounts such as root. Log in with a personal account; if real people on "
                f"this host have uids below {self.min_uid}, an administrator can lower "
                "SystemUserSpawner.min_uid."
            )
        if account.pw_gid == 0:
            raise SpawnFailed(
                f"The host account {name!r} has the root group (gid 0) as its primary "
                "group, so its server would own files as root's group. An administrator "
                "must give it a group of its own (usermod -g)."
            )

    @property
    def host_homedir(self) -> str:
        template = self.host_homedir_format_string
        if not template:
            return getattr(self, "_host_home", None) or self._account().pw_dir
        return check_host_path(template, template.format(username=self.user.name))

    @property
    def homedir(self) -> str:
        return self.image_homedir_format_string.format(username=self.user.name)

    # -- what the container gets --------------------------------------------------------------

    @property
    def volume_binds(self) -> dict[str, dict[str, str]]:
        binds = super().volume_binds
        home = {"bind": self.homedir, "mode": "rw"}
        if self.homedir_bind_propagation:
            home["propagation"] = self.homedir_bind_propagation
        binds[self.host_homedir] = home
        return binds

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(NB_USER=self.user.name, USER=self.user.name, HOME=self.homedir)
        env.update(NB_UID=str(self.user_id), USER_ID=str(self.user_id))
        if self.group_id >= 0:
            env["NB_GID"] = str(self.group_id)
            try:
                env["NB_GROUP"] = grp.getgrgid(self.group_id).gr_name
            except KeyError:
                pass
        return env

    def object_create_kwargs(self) -> dict:
        user = "0" if self.run_as_root else f"{self.user_id}:{self.group_id}"
        return {"user": user, "working_dir": self.homedir}

    async def _start(self):
        self._lookup_ids()
        return await super()._start()


def login_defs_uid_min(path: str = "/etc/login.defs", fallback: int = 1000) -> int:
    """UID_MIN from login.defs (the first uid useradd gives people), else ``fallback``."""
    try:
        text = Path(path).read_text()
    except OSError:
        return fallback
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
            return int(fields[1])
    return fallback
