"""The one place that talks to the Docker API.

Every Docker call of every spawner goes through an :class:`Engine`. docker-py is blocking,
so calls run in a thread pool, but unlike dockerspawner's single worker thread the pool is
wide (``max_concurrency``, default 100) and image pulls get a pool of their own: one user's
slow pull or a stop that waits out its grace period never holds up another user's spawn,
poll or stop. Every call has a timeout; pulls are streamed, have their own timeout, and
concurrent pulls of the same image share one download whose progress every waiter sees.

The API version is always negotiated with the daemon (``version="auto"``), never pinned,
so the same code works against Docker 20.10 (API 1.41) and Docker 29 (API >= 1.44).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import docker.tls
import docker.types
import docker.utils
import requests.exceptions

from .. import metrics
from .pulls import ProgressListener, SharedPulls
from .shared import SharedAnswers

log = logging.getLogger("hubdist.engine")


class EngineError(Exception):
    """The engine refused or failed a request; ``str()`` is the engine's own reason."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class NotFound(EngineError):
    """The object (container, image, service, volume) does not exist."""


class EngineTimeout(EngineError):
    """The engine did not answer within the call's timeout."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached at all (not running, wrong DOCKER_HOST, TLS)."""


def _translate(exc: Exception) -> EngineError:
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(_explain(exc), 404)
    if isinstance(exc, docker.errors.APIError):
        return EngineError(_explain(exc), exc.status_code)
    if isinstance(exc, requests.exceptions.Timeout):
        return EngineTimeout(f"the Docker engine did not answer in time: {exc}")
    if isinstance(exc, requests.exceptions.ConnectionError | docker.errors.DockerException):
        return EngineUnavailable(f"cannot reach the Docker engine: {exc}")
    return EngineError(str(exc))


def _outcome(exc: EngineError) -> str:
    """The outcome label of a failed call, for hubdist.metrics."""
    if isinstance(exc, EngineTimeout):
        return "timeout"
    if isinstance(exc, EngineUnavailable):
        return "unavailable"
    return "not_found" if isinstance(exc, NotFound) else "error"


def _label_filter(labels: dict[str, str]) -> dict[str, list[str]]:
    """The engine's filter for objects carrying these labels ("" matches any value)."""
    return {"label": [f"{k}={v}" if v else k for k, v in labels.items()]}


def _stale_connection(exc: Exception) -> bool:
    """A kept-alive connection the engine closed before answering (it restarted since).

    The request never reached the new engine, so sending it again is safe; without this the
    first call after an engine restart fails for each pooled connection.
    """
    return isinstance(exc, requests.exceptions.ConnectionError) and "Connection aborted" in str(exc)


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc)


def _mount(spec: dict | docker.types.Mount) -> docker.types.Mount:
    """A Mount from its keyword dict; ``driver_config`` may be a dict too."""
    if not isinstance(spec, dict):
        return spec
    spec = dict(spec)
    if isinstance(spec.get("driver_config"), dict):
        spec["driver_config"] = docker.types.DriverConfig(**spec["driver_config"])
    return docker.types.Mount(**spec)


@dataclass
class EventFeed:
    """A followed event stream (see Engine.watch_events)."""

    stopped: threading.Event = field(default_factory=threading.Event)
    stream: Any = None
    thread: threading.Thread | None = None

    def stop(self) -> None:
        """End the feed: its thread leaves as soon as the open stream is closed."""
        self.stopped.set()
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # closing a broken stream may fail; the flag still holds
                pass


class Engine:
    """Pooled, timed-out access to one Docker daemon."""

    _shared: dict[tuple, Engine] = {}
    _shared_lock = threading.Lock()

    def __init__(
        self,
        *,
        client_kwargs: dict | None = None,
        tls_config: dict | None = None,
        max_concurrency: int = 100,
        call_timeout: float = 60.0,
        pull_timeout: float = 1800.0,
        max_concurrent_pulls: int = 8,
    ):
        self.client_kwargs = dict(client_kwargs or {})
        self.tls_config = dict(tls_config or {})
        self.max_concurrency = max_concurrency
        self.call_timeout = call_timeout
        self.pull_timeout = pull_timeout
        self._calls = ThreadPoolExecutor(max_concurrency, thread_name_prefix="hubdist-docker")
        self._pull_pool = ThreadPoolExecutor(
            max_concurrent_pulls, thread_name_prefix="hubdist-pull"
        )
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()
        self._pulls = SharedPulls(self._pull)
        #: inspections of images found on the engine, shared for a moment: see inspect_image
        self._image_answers = SharedAnswers(
            keep_for=self.IMAGE_ANSWER_SECONDS, keep=lambda info: info is not None
        )

    @classmethod
    def shared(cls, **settings: Any) -> Engine:
        """One engine per distinct connection settings, shared by all spawners of a hub."""
        key = repr(sorted(settings.items(), key=lambda kv: kv[0]))
        with cls._shared_lock:
            engine = cls._shared.get(key)
            if engine is None:
                engine = cls._shared[key] = cls(**settings)
            return engine

    # -- the client ---------------------------------------------------------------------

    @property
    def client(self) -> docker.APIClient:
        """The docker-py client, made on first use (that negotiates the API version)."""
        with self._client_lock:
            if self._client is None:
                kwargs: dict[str, Any] = {
                    "version": "auto",
                    "timeout": self.call_timeout,
                    # one pooled connection per concurrent call, or urllib3 drops them
                    "max_pool_size": self.max_concurrency,
                }
                if self.tls_config:
                    kwargs["tls"] = docker.tls.TLSConfig(**self.tls_config)
                kwargs.update(docker.utils.kwargs_from_env())
                kwargs.update(self.client_kwargs)
                self._client = docker.APIClient(**kwargs)
            return self._client

    @property
    def daemon_host(self) -> str:
        """The host name of the daemon: where ports published on 0.0.0.0 can be reached."""
        url = self.client_kwargs.get("base_url") or docker.utils.kwargs_from_env().get(
            "base_url", ""
        )
        parsed = urlparse(url)
        if parsed.scheme in ("tcp", "http", "https", "ssh") and parsed.hostname:
            return parsed.hostname
        return "127.0.0.1"

    async def _run(self, method: str, *args: Any, limit: float | None = None, **kwargs: Any):
        """Call ``APIClient.<method>`` in the pool, within ``limit`` seconds."""
        return await self._run_fn(
            lambda: getattr(self.client, method)(*args, **kwargs), limit=limit, what=method
        )

    async def _run_fn(self, fn: Callable[[], Any], limit: float | None = None, what: str = ""):
        """Run blocking client calls in the pool as one timed-out unit, errors translated."""

        def invoke():
            for attempt in (1, 2):
                try:
                    return fn()
                except EngineError:
                    raise
                except Exception as exc:
                    if attempt == 1 and _stale_connection(exc):
                        continue  # once more, on a new connection
                    raise _translate(exc) from exc

        loop = asyncio.get_running_loop()
        limit = limit or self.call_timeout
        began, outcome = time.monotonic(), "cancelled"
        try:
            result = await asyncio.wait_for(loop.run_in_executor(self._calls, invoke), limit)
            outcome = "ok"
            return result
        except asyncio.TimeoutError:
            outcome = "timeout"
            raise EngineTimeout(
                f"the Docker engine did not answer {what or 'a request'} within {limit:g} s"
            ) from None
        except EngineError as exc:
            outcome = _outcome(exc)
            raise
        finally:
            seconds = time.monotonic() - began
            metrics.ENGINE_CALL_SECONDS.labels(what or "other", outcome).observe(seconds)

    # -- the engine itself --------------------------------------------------------------

    async def version(self) -> dict:
        """The daemon's ``docker version`` (Version, ApiVersion, MinAPIVersion, ...)."""
        return await self._run("version")

    async def info(self) -> dict:
        """The daemon's ``docker info`` (DockerRootDir, ServerVersion, Swarm, ...)."""
        return await self._run("info")

    async def inspect_network(self, name: str) -> dict | None:
        try:
            return await self._run("inspect_network", name)
        except NotFound:
            return None

    # -- images -------------------------------------------------------------------------

    #: how long an image found on the engine counts as there without asking again
    IMAGE_ANSWER_SECONDS = 2.0

    async def inspect_image(self, image: str) -> dict | None:
        """The image's inspect data, None if the engine lacks it. Spawns that ask about one
        image at once, or within IMAGE_ANSWER_SECONDS of an answer that found it, share one
        call: in a storm of 50 the engine, busy creating containers, took 0.4 s to answer
        each of 50 identical questions before any container could be made."""
        return await self._image_answers.ask(image, lambda: self._inspect_image(image))

    async def _inspect_image(self, image: str) -> dict | None:
        try:
            return await self._run("inspect_image", image)
        except NotFound:
            return None

    async def pull(self, image: str, on_progress: ProgressListener | None = None) -> None:
        """Pull ``image``; a pull of the same image already running is joined, not repeated."""
        await self._pulls.pull(image, on_progress)
        self._image_answers.forget(image)  # what was known of the image may have changed

    async def _pull(self, image: str, publish: Callable[[dict], None]) -> None:
        """Stream one pull of ``image`` in the pull pool, each event to ``publish``."""
        loop = asyncio.get_running_loop()

        def stream():
            try:
                for event in self.client.pull(image, stream=True, decode=True):
                    if "error" in event:
                        raise EngineError(event.get("error") or "pull failed")
                    loop.call_soon_threadsafe(publish, event)
            except EngineError:
                raise
            except Exception as exc:
                raise _translate(exc) from exc

        began, outcome = time.monotonic(), "failed"
        try:
            await asyncio.wait_for(loop.run_in_executor(self._pull_pool, stream), self.pull_timeout)
            outcome = "ok"
        except asyncio.TimeoutError:
            outcome = "timeout"
            raise EngineTimeout(
                f"pulling {image} took longer than {self.pull_timeout:g} s (pull_timeout)"
            ) from None
        finally:
            metrics.IMAGE_PULLS.labels(outcome).inc()
            metrics.IMAGE_PULL_SECONDS.labels(outcome).observe(time.monotonic() - began)

    # -- containers ---------------------------------------------------------------------

    async def inspect_container(self, name_or_id: str) -> dict | None:
        try:
            return await self._run("inspect_container", name_or_id)
        except NotFound:
            return None

    async def list_containers(self, labels: dict[str, str] | None = None) -> list[dict]:
        """All containers (running or not), optionally only those with these labels."""
        filters = _label_filter(labels) if labels else {}
        return await self._run("containers", all=True, filters=filters)

    # -- the event stream -----------------------------------------------------------------

    def watch_events(
        self,
        filters: dict,
        on_event: Callable[[dict], None],
        on_open: Callable[[], None],
    ) -> EventFeed:
        """Follow the engine's event stream in a thread of its own (not the call pool).

        ``on_event`` is called in that thread for every event. ``on_open`` is called each
        time the stream opens (the first time too, which may be after the caller's first
        listing, or after the engine came back): events before it may have been missed.
        The feed's ``stop()`` ends the thread.
        """
        feed = EventFeed()

        def follow() -> None:
            delay, broke = 0.5, False
            while not feed.stopped.is_set():
                try:
                    feed.stream = self.client.events(decode=True, filters=filters)
                    if broke:
                        metrics.EVENT_STREAM_RECONNECTS.inc()
                        broke = False
                    on_open()
                    delay = 0.5
                    for event in feed.stream:
                        on_event(event)
                except Exception as exc:
                    if not feed.stopped.is_set():
                        log.warning("Docker event stream broke (%s); reopening", exc)
                broke = True
                feed.stopped.wait(delay)
                delay = min(delay * 2, 2)  # cheap while the engine is down; soon back

        feed.thread = threading.Thread(target=follow, name="hubdist-events", daemon=True)
        feed.thread.start()
        return feed

    async def create_container(self, create: dict, host_config: dict) -> str:
        """Create a container; ``host_config`` takes docker-py's create_host_config kwargs.

        ``mounts`` entries may be plain dicts (``docker.types.Mount`` kwargs): callers never
        need to import docker.
        """
        host_config = dict(host_config)
        if host_config.get("mounts"):
            host_config["mounts"] = [_mount(m) for m in host_config["mounts"]]

        def build_and_create():
            kwargs = dict(create)
            kwargs["host_config"] = self.client.create_host_config(**host_config)
            return self.client.create_container(**kwargs)

        result = await self._run_fn(build_and_create, what="create_container")
        return result["Id"]

    async def start_container(self, container_id: str) -> None:
        await self._run("start", container_id)

    async def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        """Unpack a tar into a container's file system at ``path`` (it may be stopped)."""
        await self._run("put_archive", container_id, path, data)

    async def stop_container(self, container_id: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. A container already gone is fine."""
        try:
            # docker-py itself waits call_timeout + grace on the socket
            await self._run(
                "stop", container_id, timeout=int(grace), limit=self.call_timeout + grace
            )
        except NotFound:
            pass

    async def remove_container(self, container_id: str) -> None:
        """Remove a container and its anonymous volumes; gone or already going is fine."""
        try:
            await self._run("remove_container", container_id, v=True, force=True)
        except NotFound:
            pass
        except EngineError as exc:
            if exc.status != 409:  # 409: removal already in progress (auto_remove)
                raise

    async def inspect_volume(self, name: str) -> dict | None:
        try:
            return await self._run("inspect_volume", name)
        except NotFound:
            return None

    async def list_volumes(self, labels: dict[str, str] | None = None) -> list[dict]:
        """All named volumes, optionally only those with these labels."""
        filters = _label_filter(labels) if labels else {}
        found = await self._run("volumes", filters=filters)
        return found.get("Volumes") or []

    async def create_volume(self, name: str, labels: dict[str, str]) -> dict:
        """Create a local named volume; one that exists already is returned as it is (its
        labels unchanged: the engine cannot relabel a volume)."""
        return await self._run("create_volume", name, labels=labels)

    async def remove_volume(self, name: str) -> bool:
        """Remove a named volume: True if removed, False if there was none.

        A volume still mounted by a container is kept; EngineError says by which.
        """
        try:
            await self._run("remove_volume", name)
        except NotFound:
            return False
        return True

    def published_port(self, info: dict, port: int) -> tuple[str, int] | None:
        """Where ``port`` is published, read from inspect data already at hand (no call)."""
        bindings = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp")
        if not bindings:
            return None
        host_ip = bindings[0]["HostIp"]
        if host_ip in ("0.0.0.0", "::", ""):
            host_ip = self.daemon_host
        return host_ip, int(bindings[0]["HostPort"])

    async def logs(self, container_id: str, tail: int = 20) -> str:
        try:
            raw = await self._run("logs", container_id, tail=tail, stdout=True, stderr=True)
        except EngineError:
            return ""
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

    async def exec_run(self, container_id: str, cmd: list[str] | str) -> tuple[int, str, str]:
        """Run ``cmd`` in a running container: (exit code, stdout, stderr)."""

        def run():
            exec_id = self.client.exec_create(container_id, cmd)["Id"]
            out, err = self.client.exec_start(exec_id, demux=True)
            code = self.client.exec_inspect(exec_id).get("ExitCode")
            return (
                code,
                (out or b"").decode("utf-8", "replace"),
                (err or b"").decode("utf-8", "replace"),
            )

        return await self._run_fn(run, what="exec_run")

    # -- swarm services -----------------------------------------------------------------

    async def create_service(self, spec: dict) -> str:
        """Create a service from plain dicts (no docker types needed by callers).

        ``spec`` has ``name``, ``labels``, ``networks`` and the keyword dicts
        ``container`` (ContainerSpec; ``mounts`` as Mount kwargs), ``resources``,
        ``placement``, ``task`` (extra TaskTemplate kwargs), ``endpoint`` (EndpointSpec
        kwargs or None) and ``extra`` (extra create_service kwargs).
        """

        def build_and_create():
            container = dict(spec["container"])
            container["mounts"] = [_mount(m) for m in container.get("mounts") or []]
            if container.get("secrets"):  # SecretReference kwargs
                container["secrets"] = [
                    docker.types.SecretReference(**ref) for ref in container["secrets"]
                ]
            task = {
                "container_spec": docker.types.ContainerSpec(**container),
                "resources": docker.types.Resources(**spec["resources"]),
                "placement": docker.types.Placement(**spec["placement"]),
                "restart_policy": docker.types.RestartPolicy(condition="none"),
                "networks": spec["networks"] or None,
            }
            task.update(spec.get("task") or {})
            kwargs = {
                "task_template": docker.types.TaskTemplate(**task),
                "name": spec["name"],
                "labels": spec["labels"],
            }
            if spec.get("endpoint") is not None:
                kwargs["endpoint_spec"] = docker.types.EndpointSpec(**spec["endpoint"])
            kwargs.update(spec.get("extra") or {})
            return self.client.create_service(**kwargs)

        result = await self._run_fn(build_and_create, what="create_service")
        return result["ID"]

    async def inspect_service(self, name_or_id: str) -> dict | None:
        try:
            return await self._run("inspect_service", name_or_id)
        except NotFound:
            return None

    async def service_tasks(self, service: str) -> list[dict]:
        """The service's tasks, newest first."""
        tasks = await self._run("tasks", filters={"service": service})
        return sorted(tasks, key=lambda t: t.get("CreatedAt", ""), reverse=True)

    async def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> str:
        result = await self._run("create_secret", name, data, labels=labels)
        return result["ID"]

    async def remove_secrets(self, labels: dict[str, str]) -> None:
        """Remove every secret carrying these labels (one a service still uses stays)."""
        for secret in await self._run("secrets", filters=_label_filter(labels)):
            try:
                await self._run("remove_secret", secret["ID"])
            except EngineError as exc:  # gone already, or in use: removed with its service
                log.info("Secret %s kept: %s", secret["Spec"]["Name"], exc)

    async def remove_service(self, name_or_id: str) -> None:
        try:
            await self._run("remove_service", name_or_id)
        except NotFound:
            pass

    # -- the whole swarm, for one shared view (hubdist.engine.swarm) -------------------------

    async def swarm_tasks(self, labels: dict[str, str]) -> list[dict]:
        """Every task of every service carrying these labels, in one call."""
        filters = _label_filter(labels)
        return await self._run("tasks", filters=filters)

    async def node_tasks(self, node_id: str) -> list[dict]:
        """The tasks the swarm wants running on one node, of every service."""
        return await self._run("tasks", filters={"node": node_id, "desired-state": "running"})

    async def swarm_nodes(self) -> list[dict]:
        return await self._run("nodes")

    async def inspect_node(self, node_id: str) -> dict | None:
        try:
            return await self._run("inspect_node", node_id)
        except NotFound:
            return None

    async def create_global_service(self, spec: dict) -> str:
        """Like create_service, one task on every node (``mode: global``), restarted always."""
        spec = {**spec, "extra": {**(spec.get("extra") or {}), "mode": "global"}}
        spec["task"] = {"restart_policy": {"Condition": "any", "Delay": 5 * 10**9}}
        return await self.create_service(spec)

    async def list_services(self, labels: dict[str, str]) -> list[dict]:
        filters = _label_filter(labels)
        return await self._run("services", filters=filters)
