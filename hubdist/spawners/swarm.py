"""SwarmSpawner: one Docker Swarm service per user server, for hubs that span machines.

Unlike dockerspawner's SwarmSpawner it never relies on service virtual IPs or the ingress
routing mesh (the hub talks to the task's own IP on a shared overlay network, or to a
host-mode published port), fails a spawn as soon as Swarm rejects the task, notices a
running task within a fraction of a second, mounts named volumes as volumes, and sets the
restart condition "none" so that a user's shutdown stays a shutdown.
"""

from __future__ import annotations

import asyncio
import time

from jupyterhub.traitlets import Callable
from traitlets import Bool, CaselessStrEnum, Dict, Float, List, TraitError, Unicode, Union

from .. import names
from ..engine import EngineError
from ..engine.swarm import NODE_LOST, TASK_ENDED, ServerState, SwarmView, hostname, takes_tasks
from . import certs, readiness
from .base import ContainerSpawner, SpawnFailed
from .hardening import starts_as_root
from .swarmguard import SwarmGuardGate
from .templating import deep_merge, render_mounts

# Swarm task states, in order, with the progress shown for each
TASK_PROGRESS = {
    "new": (60, "Service created"),
    "pending": (62, "Waiting for a node"),
    "assigned": (65, "Assigned to a node"),
    "accepted": (67, "Accepted by the node"),
    "preparing": (70, "Preparing (pulling the image on the node if needed)"),
    "ready": (75, "Ready to start"),
    "starting": (78, "Starting"),
    "running": (80, "Running"),
}


#: DockerSpawner options a service cannot honour: (is the value what Swarm does anyway?, why).
#: c.DockerSpawner.* configures SwarmSpawner too, so these are refused there as well.
NOT_ON_SWARM = {
    "remove": (
        lambda value: value is True,
        "a server's service is always removed when the server stops",
    ),
    "extra_host_config": (
        lambda value: not value,
        "a service has no host config: use extra_container_spec, extra_task_spec or "
        "extra_resources_spec",
    ),
    "links": (lambda value: not value, "services have no Docker links: use network_name"),
    "gpu_driver": (
        lambda value: value == "nvidia",
        "a service reserves GPUs as generic resources: set SwarmSpawner.gpu_resource",
    ),
    "post_start_cmd": (
        lambda value: not value,
        "the hub cannot exec into a task that may run on another machine",
    ),
    "pids_limit": (
        lambda value: value <= 0,
        "a service cannot be given a pids limit here (Docker API 1.41)",
    ),
    "no_new_privileges": (
        lambda value: not value,
        "a service cannot be given no-new-privileges (Docker API 1.41)",
    ),
    "netguard_status_file": (
        lambda value: not value,
        "on a swarm each node's guard is asked instead: set SwarmSpawner.netguard_address "
        "(docs/swarm.md)",
    ),
}
NOT_ON_SWARM["remove_containers"] = NOT_ON_SWARM["remove"]  # its deprecated alias


def refused_on_swarm(option: str, value) -> str:
    """Why SwarmSpawner refuses ``option = value`` ("" if it does not)."""
    accepted, why = NOT_ON_SWARM.get(option, (None, ""))
    if accepted is None:
        return ""
    try:
        if accepted(value):
            return ""
    except TypeError:  # a value of another type is not a no-op either
        pass
    return f"SwarmSpawner cannot honour {option} = {value!r}: {why}"


class SwarmSpawner(SwarmGuardGate, ContainerSpawner):
    """Spawn single-user servers as Docker Swarm services (the hub runs on a manager).

    ``c.DockerSpawner.*`` configures it too (dockerspawner's SwarmSpawner is a DockerSpawner,
    and so is hubdist's default configuration), below ``c.SwarmSpawner.*``; a DockerSpawner
    option a service cannot honour is refused, with the reason, wherever it is set.
    """

    refused_option = staticmethod(refused_on_swarm)  # asked by hubdist.config.catalog too

    @classmethod
    def section_names(cls) -> list[str]:
        names = super().section_names()
        return [*names[:-1], "DockerSpawner", names[-1]]

    def _find_my_config(self, cfg):
        found = super()._find_my_config(cfg)
        for option in set(found) & set(NOT_ON_SWARM):
            problem = refused_on_swarm(option, found[option])
            if problem:
                raise TraitError(problem)
            del found[option]  # what Swarm does anyway (the defaults' remove = True)
        return found

    extra_resources_spec = Dict(
        config=True,
        help="""Extra docker.types.Resources arguments, e.g. {"generic_resources": {"gpu": 1}}
        to reserve one GPU advertised by the nodes.""",
    )
    gpu_resource = Unicode(
        "NVIDIA-GPU",
        config=True,
        help="""Kind of the generic resource a profile's "gpus" reserves: the name the
        nodes advertise their GPUs under (dockerd --node-generic-resource NVIDIA-GPU=UUID).
        A task is placed only on a node with that many unreserved.""",
    )
    extra_container_spec = Dict(
        config=True,
        help="""Extra docker.types.ContainerSpec arguments (e.g. {"cap_drop": ["ALL"]}).""",
    )
    extra_placement_spec = Dict(
        config=True,
        help="""Extra docker.types.Placement arguments (constraints, preferences, platforms,
        maxreplicas); overrides placement_constraints and placement_preferences.""",
    )
    extra_task_spec = Dict(
        config=True,
        help="""Extra docker.types.TaskTemplate arguments (e.g. log_driver).""",
    )
    extra_endpoint_spec = Dict(
        config=True,
        help="""Extra docker.types.EndpointSpec arguments.""",
    )
    placement_constraints = Union(
        [Callable(), List(Unicode())],
        default_value=[],
        config=True,
        help="""Swarm placement constraints, e.g. ["node.role == worker",
        "node.labels.hubdist.size == large"]. Templates are allowed ({username}, ...). Or a
        callable spawner -> list (may be async), to choose per user or per profile, e.g.
        lambda s: ["node.labels.gpu == true"] if s.user_options.get("gpu") else [].
        A constraint no node satisfies fails the spawn at once. Empty: the scheduler
        chooses, managers included.""",
    )
    placement_preferences = List(
        config=True,
        help="""Swarm placement preferences, e.g. [("spread", "node.labels.zone")].""",
    )
    volume_driver = Unicode(
        "",
        config=True,
        help="""Volume driver for named volumes (it should be multi-host capable, so a user's
        volume follows them to any node). Empty: the node's local driver.""",
    )
    volume_driver_options = Dict(
        config=True,
        help="""Options for volume_driver.""",
    )
    task_check_interval = Float(
        0.25,
        config=True,
        help="""Seconds between checks of the task's state while starting.""",
    )
    swarm_check_interval = Float(
        1.0,
        config=True,
        help="""Seconds between the listings of all users' tasks and the swarm's nodes that
        every poll reads (hubdist.engine.swarm): a server whose task ends or whose machine
        goes down is marked stopped within about this long after Swarm notices. Swarm
        notices a lost machine after a few missed heartbeats (docker swarm update
        --dispatcher-heartbeat; default 5 s). One listing serves all servers of a hub: where
        servers are given different values (a profile), the shortest applies.""",
    )
    pin_to_node = Bool(
        False,
        config=True,
        help="""Start each user's server on the node it first ran on, so that a named volume
        (local to each node) keeps the user's files across stop and start. The node is
        kept in the server's state; if that node is down the spawn fails saying so, and if
        it left the swarm the pin is dropped (the next start goes to any node, with an
        empty volume). Not needed with a volume_driver that spans nodes.""",
    )

    # DockerSpawner's options whose defaults differ on a swarm
    pull_policy = CaselessStrEnum(
        ["always", "ifnotpresent", "never", "skip"],
        default_value="skip",
        config=True,
        help="""When to pull the image before a start, on the manager: "skip" because each
        node pulls for itself when it runs a task (pulling on the manager helps nobody);
        "ifnotpresent" or "always" pull there too, "never" fails the spawn if the
        manager lacks the image.""",
    )
    network_name = Unicode(
        "",
        config=True,
        help="""An attachable overlay network the hub is also on; the hub connects to the
        task's own IP on it. Empty: none (then use_internal_ip must be False).""",
    )
    use_internal_ip = Bool(
        True,
        config=True,
        help="""Connect to the task's IP on network_name. False: publish the port in host
        mode and connect to the task's node at that port (a hub not on the overlay).""",
    )

    pinned_node = Unicode("", help="Id of the node this user's server is pinned to.").tag(
        state="pinned_node"  # survives stop: it says where the user's files are
    )

    @property
    def swarm_view(self) -> SwarmView:
        return SwarmView.of(self.engine, self.swarm_check_interval)

    # -- JupyterHub's contract --------------------------------------------------------------

    async def stop(self, now: bool = False) -> None:
        with self.stop_failure_reported("service", "docker service rm"):
            if self.object_id:
                self.swarm_view.unwatch(self.object_id)  # our own stop is no loss to report
                await self.engine.remove_service(self.object_id)
            elif why := await self._remove_leftover_service():
                self.log.warning("Not removing service %s: %s", self.object_name, why)
        await self._remove_certs()
        self.forget_object()
        self.clear_state()

    async def poll(self):
        """From the shared swarm view: no API call per server (one for a service the last
        listing did not have yet)."""
        if not self.object_id and not (self.server and await self._adopt_unrecorded()):
            return 0
        state = await self.swarm_view.get(self.object_id)
        if state is None:
            task = await self._current_task()
            if task is None:
                return 0
            state = ServerState(self.object_id, task["ID"], task["Status"]["State"])
        if state.end_reason():
            self._remember_why(state)
            return state.exit_code or 1
        self.swarm_view.watch(self.object_id, self._ended)
        return None

    async def _adopt_unrecorded(self) -> bool:
        """A service whose start the hub never saw finish (see DockerSpawner's): kept if
        its task runs (the hub's start-up check then asks the server), else removed here,
        because JupyterHub stops only servers that poll as running."""
        info = await self.engine.inspect_service(self.object_name)
        if info is None:
            return False
        if self.not_ours((info.get("Spec") or {}).get("Labels"), recorded=False):
            return False  # someone else's service of that name
        self.remember_object(info["ID"])
        task = await self._current_task()
        if task is None or task["Status"]["State"] != "running":
            await self.engine.remove_service(self.object_id)
            self.forget_object()
            return False
        self.log.info("Found service %s, started before the hub restarted", self.object_name)
        return True

    def _ended(self, state: ServerState) -> None:
        """The server stopped without us: tell the hub now, not at its next poll."""
        self._remember_why(state)
        why = state.end_reason()
        self.log.warning("Server %s of %s stopped: %s", self.object_name, self._log_name, why)
        asyncio.ensure_future(self.poll_and_notify())

    def _remember_why(self, state: ServerState) -> None:
        """Told to the user at the next start; a server that exited cleanly needs no reason."""
        if state.state != "complete" or state.exit_code or state.node_state in NODE_LOST:
            self._stop_reason = f"Your last server stopped because {state.end_reason()}."

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        """Internal SSL: the hub's files become Docker secrets of this start's service."""
        await self.engine.remove_secrets(self._certs_labels)  # a crashed hub's leftovers
        self._secret_refs = []
        for name, filename, data in certs.secrets(paths, self.object_name):
            secret_id = await self.engine.create_secret(name, data, self._certs_labels)
            self._secret_refs.append(
                {
                    "secret_id": secret_id,
                    "secret_name": name,
                    "filename": filename,
                    "mode": 0o444,  # the server runs as the image's user, whoever that is
                }
            )
        return certs.paths_in(certs.SECRETS_DIR, paths)

    _secret_refs: list[dict] = []  # this start's certificates (SecretReference kwargs)

    @property
    def _certs_labels(self) -> dict[str, str]:
        return {**self.labels, f"{names.LABEL}.certs": "true"}

    async def _remove_certs(self) -> None:
        self._secret_refs = []
        if self.internal_ssl:
            await self.engine.remove_secrets(self._certs_labels)

    async def locate(self) -> str:
        task = await self._current_task()
        if task is None:
            return self.server.url
        candidates = await self._task_endpoints(task)
        ip, port = candidates[0]
        for host, port_ in candidates:  # the one that answers, if any does
            if await readiness.answers_http(host, port_, f"{self.server.base_url}api"):
                ip, port = host, port_
                break
        return f"http://{ip}:{port}{self.server.base_url}"

    def clear_state(self) -> None:
        super().clear_state()
        self.forget_object()  # services are never reused

    # -- start ------------------------------------------------------------------------------

    async def _start(self):
        await self.swarm_view.ensure_started()
        await self.claim_prefix()
        image = await self.choose_image()
        await self.resolve_limits()
        image_info = await self.ensure_image(image)
        if self.use_internal_ip and not self.network_name:
            raise SpawnFailed(
                "SwarmSpawner needs network_name (an attachable overlay network the hub is on) "
                "or use_internal_ip = False (reach servers at a host-mode published port)"
            )
        if why := await self._remove_leftover_service():
            self.refuse_foreign("service", self.object_name, why)
        self.enter_phase("create")
        self.emit_progress(58, "Creating service")
        spec = await self._service_spec(image, image_info)
        self.refuse_engine_sockets(spec)
        try:
            self.remember_object(await self.engine.create_service(spec))
        except EngineError as exc:
            raise SpawnFailed(f"Swarm refused service {self.object_name}: {exc}") from exc
        try:
            self.enter_phase("start")
            task = await self._wait_for_running_task(image)
            if self.pin_to_node and not self.pinned_node:
                self.pinned_node = task["NodeID"]
            if self.netguard_address:  # fail closed: nobody reaches it before its rules
                await self.wait_for_swarm_guard(task, await self._node_name(task["NodeID"]))
            self.swarm_view.watch(self.object_id, self._ended)
            candidates = await self._task_endpoints(task)
            self.enter_phase("answer")
            self.emit_progress(85, "Waiting for the server to answer")
            return await self.wait_until_answering(candidates, self._fail_if_task_ended)
        except BaseException:
            await self.engine.remove_service(self.object_id)
            await self._remove_certs()
            self.forget_object()
            raise

    async def _remove_leftover_service(self) -> str:
        """Remove this server's service left by a crashed hub, found by name. A service of
        that name that is not this server's stays as it is: returns why ("" otherwise)."""
        info = await self.engine.inspect_service(self.object_name)
        if info is None:
            return ""
        why = self.not_ours((info.get("Spec") or {}).get("Labels"), recorded=False)
        if not why:
            await self.engine.remove_service(info["ID"])
        return why

    async def _service_spec(self, image: str, image_info: dict | None) -> dict:
        container = {
            "image": image,
            "env": self.get_env(),
            "mounts": self._mounts(),
            "labels": self.labels,
            "stop_grace_period": int(self.stop_timeout * 1e9),
            # Swarm holds a task in "starting" until the image's HEALTHCHECK first passes
            # (30 s and more) and kills it when the check fails, e.g. while a kernel is busy:
            # readiness is our own probe and liveness the hub's poll, so the check is off
            # (extra_container_spec {"healthcheck": {...}} turns it back on)
            "healthcheck": {"Test": ["NONE"]},
            **self._hardened_container(image_info),
        }
        args = await self._swarm_args(image, image_info)
        if args:
            container["args"] = args
        if self._secret_refs:
            container["secrets"] = self._secret_refs
        container = deep_merge(container, await self.rendered_extra(self.extra_container_spec))
        resources = {
            "generic_resources": self._gpu_resources(),
            "mem_limit": self._mem_limit or None,
            "mem_reservation": self.mem_guarantee or None,
            "cpu_limit": int(self._cpu_limit * 1e9) if self._cpu_limit else None,
            "cpu_reservation": int(self.cpu_guarantee * 1e9) if self.cpu_guarantee else None,
        }
        placement = {
            "constraints": await self._constraints() or None,
            "preferences": self.placement_preferences or None,
        }
        endpoint = None
        if not self.use_internal_ip:
            endpoint = {"ports": {None: (self.port, "tcp", "host")}}
        if endpoint is not None or self.extra_endpoint_spec:
            endpoint = deep_merge(endpoint or {}, self.extra_endpoint_spec)
        return {
            "name": self.object_name,
            "labels": self.labels,
            "networks": [self.network_name] if self.network_name else [],
            "container": container,
            "resources": deep_merge(resources, self.extra_resources_spec),
            "placement": deep_merge(placement, self.extra_placement_spec),
            "task": deep_merge(self._hardened_task(), self.extra_task_spec),
            "endpoint": endpoint,
            "extra": await self.rendered_extra(self.extra_create_kwargs),
        }

    def _gpu_resources(self) -> dict[str, int] | None:
        if not self.chosen_gpus:
            return None
        if self.chosen_gpus == "all":
            raise SpawnFailed(
                'A profile asks for "all" GPUs, which Swarm cannot reserve: give the profile '
                "a count of GPUs (gpus: 1) instead."
            )
        return {self.gpu_resource: self.chosen_gpus}

    def _hardened_container(self, image_info: dict | None) -> dict:
        """The hardening settings a ContainerSpec can carry (Swarm has no pids limit or
        no-new-privileges in API 1.41); engine sockets are refused in _start, as for
        containers."""
        user = self.extra_container_spec.get("user")
        root = starts_as_root(user, image_info, self.image_starts_as_root)
        host = self.hardened_host_config(root)
        return {key: host[key] for key in ("cap_drop", "cap_add") if key in host}

    def _hardened_task(self) -> dict:
        if not self.log_max_size:
            return {}
        options = {"max-size": self.log_max_size, "max-file": str(self.log_max_files)}
        return {"log_driver": {"Name": "json-file", "Options": options}}

    async def _swarm_args(self, image: str, image_info: dict | None) -> list[str] | None:
        """ContainerSpec args replace the image's CMD and keep its ENTRYPOINT.

        With cmd None and args set, the image's CMD is needed; the manager may not have
        the image (nodes pull for themselves), which gets a clear error, not a bad CMD.
        """
        if self.cmd is None and self.get_args():
            if image_info is None:
                image_info = await self.engine.inspect_image(image)
            if image_info is None:
                raise SpawnFailed(
                    f"Spawner.args are set but the image's command is unknown: {image} is not "
                    "on the manager. Set Spawner.cmd (e.g. ['jupyterhub-singleuser'])."
                )
        return await self._command(image, image_info)

    def _mounts(self) -> list[dict]:
        """volumes as mounts: host paths bind, names are volumes (not binds: dockerspawner's
        bug), read-only stays read-only; plus the configured ``mounts``."""
        mounts = []
        for source, entry in self.volume_binds.items():
            mount = {
                "target": entry["bind"],
                "source": source,
                "type": "bind" if source.startswith("/") else "volume",
                "read_only": entry.get("mode") == "ro",
            }
            if mount["type"] == "bind" and entry.get("propagation"):
                mount["propagation"] = entry["propagation"]
            if mount["type"] == "volume" and self.volume_driver:
                mount["driver_config"] = {
                    "name": self.volume_driver,
                    "options": self.volume_driver_options or None,
                }
            mounts.append(mount)
        rendered = render_mounts(self.mounts, self.format_volume_name, self)
        return self.labelled_mounts(mounts + rendered)

    async def _constraints(self) -> list[str]:
        namespace = self.template_namespace()
        constraints = await self.resolve(self.placement_constraints) or []
        constraints = [c.format(**namespace) for c in [*constraints, *self.chosen_constraints]]
        if self.pin_to_node and self.pinned_node:
            await self._check_pinned_node()
            constraints.append(f"node.id == {self.pinned_node}")
        return constraints

    async def _check_pinned_node(self) -> None:
        """Fail with the reason when the user's node cannot take the server."""
        node = await self.engine.inspect_node(self.pinned_node)
        problem = pinned_node_problem(self.pinned_node, node)
        if node is None:
            self.pinned_node = ""  # its files went with it: the next start goes anywhere
        if problem:
            raise SpawnFailed(problem)

    async def _node_name(self, node_id: str) -> str:
        name = self.swarm_view.nodes.get(node_id)
        if not name:
            node = await self.engine.inspect_node(node_id) or {}
            name = hostname(node) or node_id
        return name

    async def _current_task(self) -> dict | None:
        try:
            tasks = await self.engine.service_tasks(self.object_id)
        except EngineError:
            return None
        return tasks[0] if tasks else None

    async def _wait_for_running_task(self, image: str) -> dict:
        """Follow the task until it runs; fail at once when Swarm gives up on it."""
        preparing_since = None
        while True:
            task = await self._current_task()
            if task is not None:
                status = task["Status"]
                state = status["State"]
                if state == "preparing" and task.get("NodeID"):
                    # the node pulls the image now if it lacks it: Swarm tells no bytes,
                    # so the user sees where and for how long
                    preparing_since = preparing_since or time.monotonic()
                    waited = time.monotonic() - preparing_since
                    node = await self._node_name(task["NodeID"])
                    self.emit_progress(
                        TASK_PROGRESS[state][0],
                        f"Pulling {image} on node {node} if it lacks it ({waited:.0f} s)",
                    )
                elif state in ("assigned", "accepted", "running") and task.get("NodeID"):
                    node = await self._node_name(task["NodeID"])
                    where = "Running on" if state == "running" else "Assigned to"
                    self.emit_progress(TASK_PROGRESS[state][0], f"{where} node {node}")
                elif state in TASK_PROGRESS:
                    self.emit_progress(*TASK_PROGRESS[state])
                if state == "running":
                    return task
                self._fail_if_task_failed(task)
            await asyncio.sleep(self.task_check_interval)

    def _fail_if_task_failed(self, task: dict) -> None:
        status = task["Status"]
        state = status["State"]
        reason = status.get("Err") or status.get("Message") or ""
        # a pending task with an error is one no node can take (constraints, resources)
        if state in TASK_ENDED or (state == "pending" and status.get("Err")):
            code = (status.get("ContainerStatus") or {}).get("ExitCode")
            detail = f" (exit code {code})" if state in ("failed", "complete") and code else ""
            raise SpawnFailed(
                f"Swarm could not run {self.object_name}: task {state}{detail}: {reason}"
            )

    async def _fail_if_task_ended(self) -> None:
        task = await self._current_task()
        if task is None:
            raise SpawnFailed(f"Service {self.object_name} vanished while starting")
        self._fail_if_task_failed(task)

    async def _task_endpoints(self, task: dict) -> list[tuple[str, int]]:
        """Where the hub may reach the task: its IP on network_name, or the host-mode
        published port(s) on its node (Docker 20.10 picks one port per address family)."""
        if self.use_internal_ip:
            for attachment in task.get("NetworksAttachments") or []:
                network = attachment["Network"]
                if self.network_name in (network["Spec"]["Name"], network["ID"]):
                    return [(attachment["Addresses"][0].split("/")[0], self.port)]
            raise SpawnFailed(
                f"Task of {self.object_name} has no address on network {self.network_name!r}"
            )
        ports = (task["Status"].get("PortStatus") or {}).get("Ports") or []
        published = [p for p in ports if p.get("TargetPort") == self.port]
        if not published:
            raise SpawnFailed(f"Task of {self.object_name} publishes no port {self.port}")
        # host mode publishes on the node that runs the task
        node = await self.engine.inspect_node(task["NodeID"]) or {}
        host = (node.get("Status") or {}).get("Addr") or self.host_ip
        return [(host, p["PublishedPort"]) for p in published]


def pinned_node_problem(node_id: str, node: dict | None) -> str:
    """Why a server pinned to ``node_id`` (inspected as ``node``) cannot start there; ""."""
    if node is None:
        return (
            f"Your server is pinned to node {node_id} (SwarmSpawner.pin_to_node), where "
            "your files were, and that node has left the swarm. Start again to get a "
            "server on another node, with an empty work folder."
        )
    if takes_tasks(node):
        return ""
    name = hostname(node) or node_id
    state = (node.get("Status") or {}).get("State")
    availability = (node.get("Spec") or {}).get("Availability")
    condition = state if state != "ready" else f"set to {availability} by an admin"
    return (
        f"Your server is pinned to node {name} (SwarmSpawner.pin_to_node), where your "
        f"files are, and that node is {condition}. Try again when it is back; an admin "
        "who removes it from the swarm (docker node rm) lets your server start "
        "elsewhere, without those files."
    )
