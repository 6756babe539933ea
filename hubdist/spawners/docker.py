"""DockerSpawner: one container per user server, on one Docker engine."""

from __future__ import annotations

import asyncio

from jupyterhub.traitlets import Callable
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Unicode, Union, observe

from ..engine import EngineError
from ..engine.containers import ContainerState, ContainerView
from ..names import LABEL
from . import certs
from .base import ContainerSpawner, SpawnFailed
from .guard import NetguardGate
from .hardening import ProcessLimits, starts_as_root
from .ownership import made_by_hubdist
from .templating import deep_merge, render_mounts

#: on a container made with a profile: which one, with which settings (profiles.fingerprint)
PROFILE_LABEL = f"{LABEL}.profile"


class DockerSpawner(NetguardGate, ProcessLimits, ContainerSpawner):
    """Spawn single-user servers as Docker containers.

    Compatible with jupyterhub/dockerspawner 14's configuration; see the hubdist docs for
    what differs (names keep server-name case, long names are shortened, limits are
    evaluated per spawn, a crashing server fails the spawn at once with its logs).
    """

    remove = Bool(
        False,
        config=True,
        help="""Delete the container when the server stops (its named volumes stay).
        Off by default, as in dockerspawner: a stopped container is started again next
        time, keeping changes made outside volumes, unless its image changed.""",
    )

    extra_host_config = Union(
        [Callable(), Dict()],
        default_value={},
        config=True,
        help="""Extra arguments merged into docker-py's create_host_config (e.g.
        {"device_requests": [...]} for GPUs, {"shm_size": "1G"}). A dict or a callable
        spawner -> dict (may be async); string values are templates.""",
    )

    gpu_driver = Unicode(
        "nvidia",
        config=True,
        help="""Device driver of the GPUs a profile's "gpus" requests (a device request in
        the create call, as `docker run --gpus` makes); the engine needs its runtime, e.g.
        the NVIDIA Container Toolkit for "nvidia".""",
    )

    links = Dict(
        config=True,
        help="""Legacy Docker links {container: alias} for the server.""",
    )

    post_start_cmd = AnyTrait(
        False,
        config=True,
        help="""Command (string or list) run inside the server with docker exec after it
        starts, e.g. to fix permissions. A non-zero exit is logged with its output and does
        not stop the server. False: none.""",
    )

    remove_containers = Bool(config=True, help="Deprecated alias of remove.")

    @observe("remove_containers")
    def _remove_containers_set(self, change) -> None:
        self.use_alias(change, "remove", "0.10.0")

    cpu_period = 100_000  # microseconds; Docker's default CFS period

    @property
    def view(self) -> ContainerView:
        return ContainerView.of(self.engine)

    @property
    def will_resume(self) -> bool:
        return not self.remove

    # -- JupyterHub's spawner contract ------------------------------------------------------

    async def stop(self, now: bool = False) -> None:
        with self.stop_failure_reported("container", "docker rm -f"):
            if self.object_id or await self._adopt_unrecorded():
                self.view.unwatch(self.object_id)  # our own stop is not a death to report
                adopted = await self._adopted()
                await self.engine.stop_container(self.object_id, 0 if now else self.stop_timeout)
                if adopted:
                    # dockerspawner's, adopted: stopped, never removed unasked (its
                    # administrator may want it); the next start makes hubdist's own
                    self.log.info("Kept %s (not made by hubdist), stopped", self.object_name)
                    self.forget_object()
                elif self.remove:
                    await self.engine.remove_container(self.object_id)
                    self.view.forget(self.object_id)
                    self.forget_object()
        self.clear_state()

    async def poll(self):
        """From the shared, event-fed view of the engine: no Docker call per server."""
        if not self.object_id and not (self.server and await self._adopt_unrecorded()):
            return 0
        state = await self.view.get(self.object_id)
        if state is None:
            self.log.warning("Container %s for %s is gone", self.object_name, self._log_name)
            return 0
        if state.running:
            self.view.watch(state.id, self._died)
            return None
        return state.exit_code or 0

    async def delete_forever(self) -> None:
        """The user (or this named server) was deleted: remove what was made for them."""
        recorded = bool(self.object_id)
        info = await self.engine.inspect_container(self.object_id or self.object_name)
        # a kept (remove = False) container
        if info is not None and not self.not_ours(info["Config"].get("Labels"), recorded=recorded):
            await self.engine.remove_container(info["Id"])
            self.view.forget(info["Id"])
        self.forget_object()
        await super().delete_forever()  # the volumes, if delete_volumes says so

    def _died(self, state: ContainerState) -> None:
        """The container stopped without us: tell the hub now, not at its next poll."""
        if state.oom_killed:
            self._stop_reason = (
                f"Your last server was stopped because it ran out of memory "
                f"(its limit is {_mib(self._mem_limit)})."
            )
            self.log.warning("%s ran out of memory", self._log_name)
        self.log.info("Container %s stopped (exit code %s)", state.name, state.exit_code)
        asyncio.ensure_future(self.poll_and_notify())

    async def locate(self) -> str:
        """Re-read where the server is (after a hub restart the engine may have moved it).
        On a network, the view's last listing says it for every server at once (a hub
        restarted with 500 servers makes no 500 calls); a published port needs the inspect."""
        info = self.view.listed(self.object_id) if self.use_internal_ip else None
        info = info or await self.engine.inspect_container(self.object_id)
        if info is not None:
            self._seen_labels(self.object_id, info)
        if info is None or not made_by_hubdist(info["Config"].get("Labels")):
            # gone; or adopted from dockerspawner: where it was started, maybe on another
            # network than ours, is where the hub's database says
            return self.server.url
        ip, port = await self._address(info)
        scheme = "https" if self.internal_ssl else "http"
        return f"{scheme}://{ip}:{port}{self.server.base_url}"

    def clear_state(self) -> None:
        super().clear_state()
        if self.remove:
            self.forget_object()

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        """Internal SSL: keep the hub's files for this start; they are copied into the
        container between its creation and its start (see hubdist.spawners.certs)."""
        self._certs = certs.archive(paths)
        return certs.paths_in(certs.CERTS_DIR, paths)

    # -- the steps of a start ---------------------------------------------------------------

    _certs = b""

    async def _start(self):
        await self.wait_for_netguard()  # fail closed (hubdist.spawners.guard)
        await self.view.ensure_started()  # following events before our container exists
        await self.claim_prefix()
        image = await self.choose_image()
        await self.resolve_limits()
        image_info = await self.ensure_image(image)
        container_id = await self._reusable_container(image)
        created = container_id is None
        if created:
            self.enter_phase("create")
            self.emit_progress(60, "Creating container")
            await self._prepare_volumes()
            try:
                container_id = await self._create(image, image_info)
            except _NameTaken:  # made since the view last heard: decided as if asked first
                container_id = await self._reusable_container(image, ask=True)
                created = container_id is None
                if created:
                    container_id = await self._create(image, image_info)
        self.remember_object(container_id)
        try:
            if self._certs:
                await self._copy_certs()
            return await self._run_container()
        except BaseException:
            if created:  # a container that never worked is not worth keeping (its logs are
                # in the error already); the next start makes a fresh one
                await self.engine.remove_container(container_id)
                self.forget_object()
            raise

    async def _copy_certs(self) -> None:
        try:
            await self.engine.put_archive(self.object_id, "/", self._certs)
        except EngineError as exc:
            raise SpawnFailed(
                f"Could not copy the internal-SSL certificates into {self.object_name} at "
                f"{certs.CERTS_DIR} (is its file system read-only?): {exc}"
            ) from exc
        self._certs = b""

    async def _run_container(self) -> tuple[str, int]:
        self.enter_phase("start")
        self.emit_progress(70, "Starting container")
        try:
            await self.engine.start_container(self.object_id)
        except EngineError as exc:
            raise SpawnFailed(f"Docker could not start {self.object_name}: {exc}") from exc
        if self.post_start_cmd:
            await self._post_start_exec()
        info = await self._inspect_or_fail()
        self._seen_labels(self.object_id, info)
        try:
            ip, port = await self._address(info)
        except SpawnFailed:
            await self._fail_if_exited()  # an exit explains a missing address better
            raise
        self.enter_phase("answer")
        self.emit_progress(85, "Waiting for the server to answer")
        address = await self.wait_until_answering([(ip, port)], self._fail_if_exited)
        self.view.note(ContainerState(self.object_id, self.object_name, running=True))
        self.view.watch(self.object_id, self._died)
        return address

    async def _reusable_container(self, image: str, ask: bool = False) -> str | None:
        """An existing container to start again, or None after removing one not to reuse.

        One found by name (not by the id in the hub's state) must be labelled as this
        server's: another user's container of the same name is neither reused (its API
        token would be taken over) nor removed. The engine is asked by name only if the
        view of its containers knows one of that name (or ``ask``): a first start makes no
        call before its create, which in a storm waits behind the engine's other work.
        """
        recorded = bool(self.object_id)
        if not (recorded or ask or self.view.may_have_name(self.object_name)):
            return None
        info = await self.engine.inspect_container(self.object_id or self.object_name)
        if info is None:
            return None
        why = self.not_ours(info["Config"].get("Labels"), recorded=recorded)
        if why:
            self.refuse_foreign("container", info["Name"].lstrip("/"), why)
        if info["State"].get("Running"):
            self.log.info("Container %s is already running; reusing it", self.object_name)
            self._recover_token(info)
            return info["Id"]
        if not made_by_hubdist(info["Config"].get("Labels")):
            return self._leave_adopted(info)
        why = self._not_reusable(info, image)
        if why:
            self.log.info("Removing old container %s (%s)", info["Name"].lstrip("/"), why)
            await self.engine.remove_container(info["Id"])
            return None
        self._recover_token(info)
        return info["Id"]

    def _leave_adopted(self, info: dict) -> None:
        """A stopped container hubdist did not make (dockerspawner's, adopted): kept as it
        is; this start makes hubdist's own, on hubdist's network with its labels."""
        old = info["Name"].lstrip("/")
        self.forget_object()
        if old == self.object_name:
            raise SpawnFailed(
                f"Your server cannot start: the container {old!r}, made before this hub ran "
                "hubdist (by dockerspawner), has the name of the new one and is kept until "
                f"an administrator removes it (docker rm {old}; files in volumes stay), or "
                "gives hubdist's containers other names (DockerSpawner.prefix, e.g. the "
                'default "hubdist"; docs/migrating.md).'
            )
        self.log.info("Keeping %s (not made by hubdist); making %s", old, self.object_name)

    def _not_reusable(self, info: dict, image: str) -> str:
        """Why a stopped container is not started again ("" if it may be): it must be made
        from this image and for this start's profile settings (limits, GPUs, volumes...)."""
        if self.remove:
            return "remove is set"
        if info["Config"].get("Image") != image:
            return f"the image is now {image}"
        labels = info["Config"].get("Labels") or {}
        if labels.get(PROFILE_LABEL, "") != self.chosen_profile:
            return "it was made for another profile or other profile settings"
        return ""

    async def _adopt_unrecorded(self) -> bool:
        """Find by name a container whose start the hub never saw finish.

        JupyterHub records a server before the spawner's start and saves our state only
        after it, so a hub stopped mid-spawn comes back with a server and no container id.
        Adopting the container by its name lets the hub's start-up check keep it if it
        answers, and its stop remove it if not: no orphan outlives a hub restart.
        """
        info = await self.engine.inspect_container(self.object_name)
        if info is None or self.not_ours(info["Config"].get("Labels"), recorded=False):
            return False
        if self.remove and not info["State"].get("Running"):
            # made but never started: JupyterHub stops only servers that poll as running,
            # so nobody else would remove it
            await self.engine.remove_container(info["Id"])
            return False
        self.log.info("Found %s, started before the hub restarted", self.object_name)
        self.remember_object(info["Id"])
        self._recover_token(info)
        return True

    async def _prepare_volumes(self) -> None:
        """Create this server's named volumes, labelled, before the container mounts them
        (the engine would make them unlabelled); refuse one that is someone else's."""
        binds = self.volume_binds  # `mounts` are labelled in the mount (they may have a driver)
        for name, (names_user, names_server) in self.volume_owners.items():
            if not names_user:
                continue  # shared by everyone: the admin's to make and to mind
            why = await self._foreign_volume(name, names_server)
            if why:
                self.refuse_foreign("volume", name, why)
            if why is None and name in binds:
                await self.engine.create_volume(name, self.volume_labels(names_server))
                self.log.info("Created volume %s for %s", name, self._log_name)

    def _recover_token(self, info: dict) -> None:
        """A reused container keeps the API token it was created with."""
        for item in info["Config"].get("Env") or []:
            key, _, value = item.partition("=")
            if key == "JUPYTERHUB_API_TOKEN" and value:
                self.api_token = value

    async def _create(self, image: str, image_info: dict | None) -> str:
        binds = self.volume_binds
        create = {
            "image": image,
            "name": self.object_name,
            "environment": self.get_env(),
            "labels": {**self.labels, **self._profile_label()},
            "volumes": sorted({b["bind"] for b in binds.values()}),
            "ports": [self.port],
        }
        command = await self._command(image, image_info)
        if command:
            create["command"] = command
        create.update(self.object_create_kwargs())
        create = deep_merge(create, await self.rendered_extra(self.extra_create_kwargs))
        root = starts_as_root(create.get("user"), image_info, self.image_starts_as_root)
        hardened = {**self.hardened_host_config(root), **self.process_limits_host_config()}
        host_config = deep_merge(
            {**self._host_config(binds), **hardened},
            await self.rendered_extra(self.extra_host_config),
        )
        host_config.setdefault("network_mode", self.network_name)
        self.refuse_engine_sockets(host_config, create)
        try:
            return await self.engine.create_container(create, host_config)
        except EngineError as exc:
            failure = _NameTaken if exc.status == 409 else SpawnFailed  # 409: name in use
            raise failure(f"Docker could not create {self.object_name}: {exc}") from exc

    def _profile_label(self) -> dict[str, str]:
        return {PROFILE_LABEL: self.chosen_profile} if self.chosen_profile else {}

    def object_create_kwargs(self) -> dict:
        """What a subclass adds to the create call (extra_create_kwargs still wins)."""
        return {}

    def _host_config(self, binds: dict) -> dict:
        config: dict = {
            "binds": binds,
            "links": self.links,
            "mounts": self.labelled_mounts(
                render_mounts(self.mounts, self.format_volume_name, self)
            ),
        }
        if not self.use_internal_ip:
            config["port_bindings"] = {self.port: (self.host_ip,)}
        if self._mem_limit:
            config["mem_limit"] = self._mem_limit
            config["memswap_limit"] = self._mem_limit  # no swap on top of the limit
        if self._cpu_limit:
            config["cpu_period"] = self.cpu_period
            config["cpu_quota"] = int(self._cpu_limit * self.cpu_period)
        if self.mem_guarantee:
            config["mem_reservation"] = self.mem_guarantee
        if self.cpu_guarantee:
            # Docker has no CPU reservation for plain containers; shares weight contention
            config["cpu_shares"] = max(2, int(self.cpu_guarantee * 1024))
        if self.chosen_gpus:
            count = -1 if self.chosen_gpus == "all" else self.chosen_gpus
            config["device_requests"] = [
                {"driver": self.gpu_driver, "count": count, "capabilities": [["gpu"]]}
            ]
        return config

    async def _post_start_exec(self) -> None:
        cmd = self.post_start_cmd
        try:
            code, out, err = await self.engine.exec_run(self.object_id, cmd)
        except EngineError as exc:
            self.log.warning("post_start_cmd %r failed in %s: %s", cmd, self.object_name, exc)
            return
        self.log.debug("post_start stdout in %s: %s", self.object_name, out)
        if code:
            self.log.warning(
                "post_start_cmd %r exited %s in %s: %s", cmd, code, self.object_name, err or out
            )

    # the container last seen carrying hubdist's labels (a container's labels never change)
    _made_by_hubdist = ""

    def _seen_labels(self, container_id: str, info: dict) -> None:
        if made_by_hubdist(info["Config"].get("Labels")):
            self._made_by_hubdist = container_id

    async def _adopted(self) -> bool:
        """Whether our container lacks hubdist's labels (dockerspawner's, adopted). Known
        without a call for one this hub started or located: a stop's first engine call is
        the stop itself, and 500 stops at once make 500 calls fewer."""
        if self.object_id and self._made_by_hubdist == self.object_id:
            return False
        info = await self.engine.inspect_container(self.object_id)
        return info is not None and not made_by_hubdist(info["Config"].get("Labels"))

    async def _inspect_or_fail(self) -> dict:
        info = await self.engine.inspect_container(self.object_id)
        if info is None:
            raise SpawnFailed(f"Container {self.object_name} vanished while starting")
        return info

    async def _address(self, info: dict) -> tuple[str, int]:
        """Where the hub reaches the server: (host, port)."""
        if self.use_internal_hostname:
            return self.object_name, self.port
        if self.use_internal_ip:
            networks = info["NetworkSettings"].get("Networks") or {}
            network = networks.get(self.network_name)
            if not network or not network.get("IPAddress"):
                raise SpawnFailed(
                    f"Container {self.object_name} has no address on Docker network "
                    f"{self.network_name!r}; check network_name (docker network ls) and that "
                    "the network exists (docker network create NAME)"
                )
            return network["IPAddress"], self.port
        published = self.engine.published_port(info, self.port)
        if not published:
            raise SpawnFailed(f"Container {self.object_name} has no published port {self.port}")
        return published

    async def _fail_if_exited(self) -> None:
        if self.view.says_running(self.object_id):
            return  # its start event came and no die event since: nothing to ask the engine
        info = await self._inspect_or_fail()
        state = info["State"]
        if state.get("Running"):
            return
        logs = (await self.engine.logs(self.object_id, tail=20)).strip()
        if state.get("OOMKilled"):
            reason = f"it ran out of memory: its limit is {_mib(self._mem_limit)}"
        else:
            reason = f"exit code {state.get('ExitCode')}"
        message = f"The server in {self.object_name} exited while starting ({reason})."
        if state.get("Error"):
            message += f" Docker: {state['Error']}."
        if logs:
            message += "\nLast log lines:\n" + logs
        raise SpawnFailed(message)


class _NameTaken(SpawnFailed):
    """A container of this server's name appeared after the view was asked (a second
    time, it fails the start like any refused create)."""


def _mib(n: int | None) -> str:
    return f"{n / 1024**2:.0f} MiB" if n else "not set"
