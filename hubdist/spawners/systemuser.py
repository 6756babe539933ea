"""SystemUserSpawner: containers that run as the host's own users, with their home directories.

The uid and gid come from the user database the hub sees (``pwd``). A hub running in a
container must see the host's: mount /etc/passwd and /etc/group read-only into it (the
shipped compose file shows how). A JupyterHub user with no host account gets a clear spawn
error; map login names to host accounts with ``Authenticator.username_map``.
"""

from __future__ import annotations

import grp
import pwd

from traitlets import Bool, Integer, Unicode

from ..names import check_host_path
from .base import SpawnFailed
from .docker import DockerSpawner


class SystemUserSpawner(DockerSpawner):
    """DockerSpawner whose containers run as the matching host user, home mounted."""

    host_homedir_format_string = Unicode(
        "/home/{username}",
        allow_none=True,
        config=True,
        help="""Host path of the user's home directory; {username} is the JupyterHub name
        (not escaped). Empty or None: the home directory from the user database.
        Default: "/home/{username}".""",
    )
    image_homedir_format_string = Unicode(
        "/home/{username}",
        config=True,
        help="""Where the home directory is mounted in the container; also HOME and the
        working directory. Default: "/home/{username}".""",
    )
    homedir_bind_propagation = Unicode(
        "",
        config=True,
        help="""Mount propagation of the home bind (e.g. "rslave"). Default: "" (Docker's).""",
    )
    run_as_root = Bool(
        False,
        config=True,
        help="""Start the container as root and let the image become the user (NB_USER,
        NB_UID, NB_GID; the hubdist single-user image does). Default: False: the container
        runs as uid:gid directly.""",
    )
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
        self.user_id, self.group_id = account.pw_uid, account.pw_gid
        self._host_home = account.pw_dir

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
