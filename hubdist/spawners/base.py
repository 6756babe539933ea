"""What every hubdist spawner does the same way: image choice and pulling, names, templates,
volumes, connection to the engine, progress, state, and dockerspawner's deprecated aliases.

DockerSpawner, SwarmSpawner and SystemUserSpawner build on :class:`ContainerSpawner`; the
configuration surface is dockerspawner 14's, so ``c.DockerSpawner.*`` written for it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from collections.abc import Callable as CallableType
from typing import Any
from urllib.parse import urlparse

from jupyterhub.spawner import Spawner, SpawnException
from jupyterhub.traitlets import ByteSpecification, Callable
from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    CaselessStrEnum,
    Dict,
    Float,
    Integer,
    List,
    TraitError,
    Unicode,
    Union,
    observe,
    validate,
)
from traitlets.traitlets import DefaultHandler, TraitType, Undefined

from .. import _versions, names
from ..engine import Engine, EngineError, PullProgress
from ..engine.shared import SharedAnswers
from . import options as image_options
from . import ownership, readiness
from . import profiles as profile_options
from .compat import DeprecatedNames
from .failure import SpawnFailed
from .hardening import Hardening
from .progress import ProgressChannel
from .templating import own_volume_names, render, volume_binds, volume_owners


def default_format_volume_name(template: str, spawner: ContainerSpawner) -> str:
    return template.format(**spawner.template_namespace())


def _jupyterhub_option(name: str, default_value: Any = Undefined) -> TraitType:
    """JupyterHub's Spawner option ``name`` (its type and help), declared again so that its
    default here is ours and ``--help-all`` shows it."""
    trait = copy.copy(Spawner.class_traits()[name])
    trait.metadata = dict(trait.metadata)
    if default_value is not Undefined:
        trait.default_value = default_value
    return trait


class described_default(DefaultHandler):  # noqa: N801 (used as a decorator, like @default)
    """traitlets' ``@default(name)``, saying what the computed default is: ``--help-all``
    shows ``description`` (it can only show a static value, here a wrong one). The trait
    must be declared in the same class, so that no parent's help changes."""

    def __init__(self, name: str, description: str):
        super().__init__(name)
        self.description = description

    def class_init(self, cls: type, name: str | None) -> None:
        super().class_init(cls, name)
        trait = cls.__dict__.get(self.trait_name)
        if trait is None:
            raise TypeError(f"{cls.__name__}.{self.trait_name} must be declared where its "
                            "default is described")  # fmt: skip
        description = self.description
        trait.default_value_repr = lambda: description


def _tagged(value: Any) -> bool:
    return value is not None


@functools.cache
def _state_traits(cls: type) -> dict[str, TraitType]:
    """A spawner class's traits kept in its state: asked for at every save and load of
    every server's state, found once per class instead of among its hundred-odd traits."""
    return cls.class_traits(state=_tagged)


#: (engine, prefix, deployment) whose claim this hub process has checked
_claimed: set[tuple[int, str, str]] = set()
#: the claim being checked now, shared by the starts that come meanwhile (a storm's 50
#: would otherwise each ask the engine, busy creating their containers)
_claiming = SharedAnswers()


PROFILES_OR_IMAGES = (
    "use one: give each image of allowed_images a profile (docs/profiles.md) and remove "
    "allowed_images"
)


class ContainerSpawner(Hardening, DeprecatedNames, Spawner):
    """Shared base of the hubdist spawners; not used directly."""

    shared_base = True  # configured as c.DockerSpawner.*: hints never suggest this class
    #: options of which a configuration may set one only (checked by hubdist.config.catalog)
    exclusive_options = (("profiles", "allowed_images", PROFILES_OR_IMAGES),)

    # JupyterHub checks at class creation that these exist; the subclasses implement them
    async def _start(self):
        raise NotImplementedError

    async def stop(self, now: bool = False):
        raise NotImplementedError

    async def poll(self):
        raise NotImplementedError

    async def locate(self) -> str:
        """The server's URL as the engine says now (subclasses)."""
        raise NotImplementedError

    async def get_url(self) -> str:
        """Where the running server is, asked once per server as the hub starts.

        JupyterHub does not catch an error here: one server that cannot be located (its
        container taken off the network, ``network_name`` changed in the config) would stop
        the whole hub. Then the address in the database is checked instead: a server that
        does not answer there is stopped, its user starts again, the others are kept."""
        try:
            return await self.locate()
        except Exception as exc:
            self.log.warning(
                "%s: cannot tell where the server is now (%s); checking it at %s",
                self._log_name,
                exc,
                self.server.url,
            )
            return self.server.url

    async def start(self):
        """Progress from the first moment; why the last server stopped, told once."""
        channel = self.progress_channel
        channel.reset()
        if self._stop_reason:  # why the last server stopped, told on this start
            self.emit_progress(1, self._stop_reason)
            self._stop_reason = ""
        started = False
        try:
            address = await self._start()
            started = True
            return address
        finally:
            channel.close(ok=started)

    # -- which image ----------------------------------------------------------------------

    image = Unicode(
        f"quay.io/jupyterhub/singleuser:{_versions.minor(_versions.JUPYTERHUB_VERSION)}",
        config=True,
        help="""Image for single-user servers (the hubdist hub image sets
        hubdist/singleuser:latest). A user may pick another one
        through user_options["image"] only if allowed_images allows it.""",
    )

    allowed_images = Union(
        [Unicode(), Dict(), List(), Callable()],
        default_value={},
        config=True,
        help="""Images users may choose in the options form or through user_options["image"].
        A list of images, a dict {form label: image}, "*" for any image, or a callable
        spawner -> list/dict (evaluated at each spawn, e.g. per group). Empty (the default):
        users may not choose (deny by default). With two or more entries the
        spawn page shows a drop-down.""",
    )

    profiles = profile_options.ProfileList(
        config=True,
        help="""Server profiles users choose from in the spawn form or with user_options
        {"profile": NAME, OPTION: CHOICE, ...} (docs/profiles.md). A list of dicts, each with
        name (a slug), display_name, description, default (one may be True; else the first
        the user may see), groups (who may see it; empty: everyone) and/or visible (a
        callable spawner -> bool), the settings image, mem_limit, cpu_limit, mem_guarantee,
        cpu_guarantee, gpus (a count or "all"), environment and volumes (added to the
        configured ones), placement_constraints (Swarm only), and options: {name:
        {display_name, choices: {name: {display_name, default, SETTINGS...}}}}, e.g. an
        image version drop-down. Or a callable spawner -> list, evaluated at each spawn.
        Nothing else of user_options reaches the server. Empty (the default): no profiles.
        Cannot be combined with allowed_images (give each image a profile instead).""",
    )

    pull_policy = CaselessStrEnum(
        ["always", "ifnotpresent", "never", "skip"],
        default_value="ifnotpresent",
        config=True,
        help="""When to pull the image before a start. "ifnotpresent" pulls only if
        the engine lacks it; "always" pulls every time (fetching a moved tag); "never" fails
        the spawn at once if the image is missing; "skip" does not check at all. hubdist's
        own images (hubdist/..., built locally, published nowhere) are never pulled: as
        with "never", a missing one fails the spawn saying how to build it.""",
    )

    pull_timeout = Float(
        1800.0,
        config=True,
        help="""Seconds a pull may take before the spawn fails. Raise
        Spawner.start_timeout too, which bounds the whole start including the pull.""",
    )

    # -- names ----------------------------------------------------------------------------

    prefix = Unicode(
        "jupyter",
        config=True,
        help="""Prefix of container names ({prefix} in name_template).""",
    )

    deployment = Unicode(
        config=True,
        help="""Name of this hub's deployment, written into a label on every container,
        service and volume it makes. An object labelled for another deployment is never
        reused, stopped, removed or mounted, and a second deployment that uses the same
        prefix on one engine is refused (it would share users' containers and volumes).""",
    )

    @described_default(
        "deployment", "$HUBDIST_DEPLOYMENT (the compose file sets its project name), else prefix"
    )
    def _deployment_default(self) -> str:
        return os.environ.get("HUBDIST_DEPLOYMENT") or self.prefix

    name_template = Unicode(
        config=True,
        help="""Name of the container (or service). Placeholders: {prefix},
        {username} (escaped), {raw_username}, {servername} (escaped), {raw_servername},
        {imagename}. A name of 63 characters or more is shortened to 63 with a hash suffix.""",
    )

    @described_default(
        "name_template",
        '"{prefix}-{username}", for a named server "{prefix}-{username}--{servername}"',
    )
    def _name_template_default(self) -> str:
        return "{prefix}-{username}--{servername}" if self.name else "{prefix}-{username}"

    escape = AnyTrait(
        config=True,
        help="""How user and server names are escaped for {username} and {servername}:
        "legacy" selects dockerspawner's pre-12 scheme; or give a callable str -> str.""",
    )

    @described_default(
        "escape", 'dockerspawner 12+\'s scheme: each byte outside [a-z0-9] is "-" and 2 hex'
    )
    def _escape_default(self):
        return names.escape

    @validate("escape")
    def _validate_escape(self, proposal):
        value = proposal["value"]
        if value == "legacy":
            return names.legacy_escape
        if not callable(value):
            raise TraitError(f'escape must be "legacy" or a callable, not {value!r}')
        return value

    # -- volumes --------------------------------------------------------------------------

    volumes = Dict(
        config=True,
        help="""Volumes to mount: {source: target} or {source: {"bind": target, "mode":
        "rw"|"ro"|"z"|"Z", "propagation": ...}}. A source starting with "/" is a host path,
        anything else a named volume (created on first use). Both sides are templates, e.g.
        {"jupyterhub-user-{username}": "/home/jovyan/work"}; with named servers,
        "jupyterhub-user-{username}{servername_suffix}" gives each its own volume
        ({servername_suffix} is empty for the default server, "--NAME" for a named one).""",
    )

    read_only_volumes = Dict(
        config=True,
        help="""Like volumes, always mounted read-only.""",
    )

    mounts = List(
        config=True,
        help="""Mounts as docker.types.Mount keyword dicts, e.g. {"type": "volume", "source":
        "data-{username}", "target": "/data", "read_only": False}; every string field is a
        template.""",
    )

    delete_volumes = Bool(
        False,
        config=True,
        help="""When a user is deleted, also delete their named volumes: those of volumes,
        read_only_volumes and mounts whose name template mentions the user ({username},
        {raw_username}, {safe_username}); deleting a named server deletes those that
        mention {servername} or {raw_servername}. Volumes shared between users are never
        touched. Off by default to keep the data: a deleted account is easily re-created,
        lost files are not; remove them with `docker volume rm` when sure.""",
    )

    format_volume_name = AnyTrait(
        config=True,
        help="""Callable (template, spawner) -> str that renders volume sources and
        targets.""",
    )

    @described_default("format_volume_name", "str.format with the template namespace")
    def _format_volume_name_default(self):
        return default_format_volume_name

    # -- the engine -----------------------------------------------------------------------

    client_kwargs = Dict(
        config=True,
        help="""Extra keyword arguments for docker.APIClient, applied last (after DOCKER_HOST,
        DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from the environment).""",
    )

    tls_config = Dict(
        config=True,
        help="""Keyword arguments for docker.tls.TLSConfig (client_cert, ca_cert, verify) to
        reach a remote engine over TLS; empty: no TLS unless the environment says.""",
    )

    docker_concurrency = Integer(
        100,
        config=True,
        help="""Docker API calls that may run at once for all users together; the default
        lets 50 simultaneous spawns run without queueing behind one another.""",
    )

    docker_timeout = Float(
        60.0,
        config=True,
        help="""Seconds any single Docker API call may take (pulls have pull_timeout).""",
    )

    # -- connection to the server -------------------------------------------------------------

    network_name = Unicode(
        "bridge",
        config=True,
        help="""Docker network for the servers. On any other network than "bridge" the hub
        reaches servers at their IP on it (use_internal_ip), so the hub must be on it.""",
    )

    use_internal_ip = Bool(
        config=True,
        help="""Connect to the server at its IP on network_name instead of a published
        port.""",
    )

    @described_default("use_internal_ip", 'True unless network_name is "bridge" or "host"')
    def _use_internal_ip_default(self) -> bool:
        return self.network_name not in ("bridge", "host")

    use_internal_hostname = Bool(
        config=True,
        help="""Connect to the server by its container name (DNS on a user-defined network);
        with internal_ssl the certificate names the host.""",
    )

    @described_default("use_internal_hostname", "the value of internal_ssl")
    def _use_internal_hostname_default(self) -> bool:
        return bool(self.internal_ssl)

    host_ip = Unicode(
        config=True,
        help="""Host address on which a server's port is published (when use_internal_ip is
        False). "0.0.0.0" publishes on every interface; the hub then connects to the
        engine's host.""",
    )

    @described_default("host_ip", 'the host of a tcp:// DOCKER_HOST, else "127.0.0.1"')
    def _host_ip_default(self) -> str:
        url = urlparse(os.environ.get("DOCKER_HOST", ""))
        return url.hostname if url.scheme == "tcp" and url.hostname else "127.0.0.1"

    extra_create_kwargs = Union(
        [Callable(), Dict()],
        default_value={},
        config=True,
        help="""Extra arguments merged into the create call (containers: docker-py's
        create_container; services: create_service). A dict, or a callable spawner -> dict
        (may be async). String values are templates.""",
    )

    stop_timeout = Float(
        10.0,
        config=True,
        help="""Seconds a server gets to exit after SIGTERM before it is killed. The wait
        blocks no other user's requests.""",
    )

    # -- JupyterHub's options, declared again with the defaults containers need ---------

    ip = _jupyterhub_option("ip", "0.0.0.0")
    port = _jupyterhub_option("port", 8888)
    cmd = _jupyterhub_option("cmd")
    env_keep = _jupyterhub_option("env_keep")
    options_form = _jupyterhub_option("options_form")
    options_from_form = _jupyterhub_option("options_from_form")

    poll_interval = Integer(
        300,
        config=True,
        help="""Seconds between JupyterHub's own checks that a server still runs (default
        300; JupyterHub's is 30). Only a backstop here: the engine's events (and its
        listing every minute) tell the hub at once when a server ends, and a poll only reads
        that same view. At 30 s the checks cost the hub 1000 wake-ups a minute with 500
        servers running, for nothing the events had not said. 0 turns them off.""",
    )

    @described_default("cmd", "None: the image's own CMD")
    def _cmd_default(self):
        return None

    @described_default("env_keep", "[]: nothing of the hub's environment reaches a server")
    def _env_keep_default(self) -> list:
        return []

    @described_default(
        "options_form",
        "the profiles the user may see, else an image drop-down when allowed_images offers two",
    )
    def _options_form_default(self):
        async def form(spawner: ContainerSpawner) -> str:
            if spawner.profiles:
                shown = await spawner.visible_profiles()
                return profile_options.options_form(shown, spawner.user_options or {})
            return image_options.options_form(spawner.allowed_image_choices(), spawner.image)

        return form

    @described_default("options_from_form", "reads the profile fields or the image drop-down")
    def _options_from_form_default(self):
        def from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
            if profile_options.PROFILE in formdata:
                return profile_options.options_from_form(formdata)
            return image_options.options_from_form(formdata)

        return from_form

    mem_limit = Union(
        [Callable(), ByteSpecification()],
        allow_none=True,
        default_value=None,
        config=True,
        help="""Memory limit, enforced by the engine: bytes or "512M", "2G" (K, M, G, T are
        powers of 1024), or a callable spawner -> value evaluated at each spawn (e.g. from
        user_options). None: no limit.""",
    )

    cpu_limit = Union(
        [Callable(), Float()],
        allow_none=True,
        default_value=None,
        config=True,
        help="""CPU limit in cores (1.5 = one and a half cores), enforced by the engine, or a
        callable spawner -> float evaluated at each spawn. None: no limit.""",
    )

    # -- state ---------------------------------------------------------------------------

    # A trait tagged state="KEY" is this server's state: saved in the hub's database under
    # KEY while it differs from its default, read back (or reset) when the hub loads it.
    object_id = Unicode("", help="Id of the Docker object of this server.").tag(
        state="object_id",
        state_aliases=("container_id",),  # dockerspawner's key
    )
    _saved_name = Unicode(
        "", help="Its name, kept so that a later template change does not lose it."
    ).tag(state="object_name")

    _stop_reason = Unicode(
        "", help="Why the last server stopped, kept until the next start tells the user."
    ).tag(state="stop_reason")

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        for name, trait in _state_traits(type(self)).items():
            keys = (trait.metadata["state"], *trait.metadata.get("state_aliases", ()))
            saved = [state[key] for key in keys if state.get(key) not in (None, "")]
            setattr(self, name, saved[0] if saved else trait.default_value)

    def get_state(self) -> dict:
        state = super().get_state()
        for name, trait in _state_traits(type(self)).items():
            value = getattr(self, name)
            if value != trait.default_value:
                state[trait.metadata["state"]] = value
        return state

    def remember_object(self, object_id: str) -> None:
        """This server's Docker object, by id and by the name it has now."""
        self._saved_name = self.object_name
        self.object_id = object_id

    @contextlib.contextmanager
    def stop_failure_reported(self, kind: str, remove_command: str) -> Iterator[None]:
        """Log why a stop failed, and what is left, before the error goes to JupyterHub.

        JupyterHub 6.1 runs a stop in the background and drops its error: the server counts
        as stopped, nothing is logged, and a container (or service) the engine never
        stopped runs on unseen. Said here, an administrator learns of it and what to do.
        """
        name = self.object_name
        try:
            yield
        except Exception as exc:
            self.log.error(
                "Could not stop %s: %s. JupyterHub counts the server as stopped, but its "
                "%s %s may still be running: the next start of this server reuses or "
                "replaces it, or remove it now with `%s %s`.",
                self._log_name,
                exc,
                kind,
                name,
                remove_command,
                name,
            )
            raise

    def forget_object(self) -> None:
        """The object is gone (or never worked): the next start makes a fresh one."""
        self.object_id = ""
        self._saved_name = ""

    async def delete_forever(self) -> None:
        """The user (or this named server) was deleted: with delete_volumes, remove the named
        volumes that were theirs alone (and are labelled so, or unlabelled at exactly the
        expected name)."""
        if not self.delete_volumes:
            return
        owners = self.volume_owners
        for volume in own_volume_names(owners, named_server=bool(self.name)):
            why = await self._foreign_volume(volume, names_server=owners[volume][1])
            if why:
                self.log.warning("Kept volume %s of %s: %s", volume, self._log_name, why)
                continue
            try:
                if await self.engine.remove_volume(volume):
                    self.log.info("Deleted volume %s of %s", volume, self._log_name)
            except EngineError as exc:  # e.g. still mounted elsewhere: keep it, say why
                self.log.warning("Kept volume %s of %s: %s", volume, self._log_name, exc)

    async def _foreign_volume(self, name: str, names_server: bool) -> str | None:
        """Why volume ``name`` (whose template names this server, or not) is not this
        user's; "" if it is; None if it does not exist.

        An unlabelled volume (made by the engine on first mount, before hubdist labelled
        volumes) is the user's when its name is exactly what the template renders.
        """
        info = await self.engine.inspect_volume(name)
        if info is None:
            return None
        ours = self.volume_labels(names_server)
        exact = not names.was_shortened(name, names.VOLUME_NAME_MAX)
        return ownership.foreign(info.get("Labels"), ours, recorded=False, exact=exact)

    async def _command(self, image: str, image_info: dict | None) -> list[str] | None:
        """cmd (None: the image's CMD) followed by args; None lets the image decide."""
        args = self.get_args()
        if self.cmd:
            return list(self.cmd) + args
        if not args:
            return None
        if image_info is None:
            image_info = await self.engine.inspect_image(image)
        image_cmd = ((image_info or {}).get("Config") or {}).get("Cmd") or []
        return list(image_cmd) + args

    # -- names and templates -------------------------------------------------------------

    @property
    def object_name(self) -> str:
        if self._saved_name:
            return self._saved_name
        return names.object_name(self._rendered_name)

    @property
    def _rendered_name(self) -> str:
        return self.name_template.format(**self.template_namespace())

    def not_ours(self, info_labels: dict | None, *, recorded: bool) -> str:
        """Why an object found by id (``recorded``: the hub's state names it) or else by
        this server's name is not this server's to touch; "" if it is."""
        exact = not recorded and names.object_name(self._rendered_name) == self._rendered_name
        return ownership.foreign(info_labels, self.labels, recorded=recorded, exact=exact)

    def refuse_foreign(self, kind: str, name: str, why: str) -> None:
        """Fail the spawn over an object that is someone else's, touching nothing."""
        self.log.error("Not touching %s %s wanted by %s: %s", kind, name, self._log_name, why)
        raise SpawnFailed(
            f"Your server cannot start: the Docker {kind} name {name!r} is taken by an "
            f"object that is not this server's ({why}). Nothing was changed. An "
            "administrator can give servers distinct names (DockerSpawner.name_template, "
            "prefix, or the volume templates) or remove the object if it is stale."
        )

    container_name = object_name

    def template_namespace(self) -> dict[str, Any]:
        namespace = super().template_namespace()
        escaped_user = self.escape(self.user.name)
        namespace.update(
            username=escaped_user,
            safe_username=escaped_user,
            raw_username=self.user.name,
            servername=self.escape(self.name) if self.name else "",
            raw_servername=self.name or "",
            servername_suffix=f"--{self.escape(self.name)}" if self.name else "",
            imagename=names.image_slug(self.image),
            prefix=self.prefix,
        )
        return namespace

    @property
    def volume_binds(self) -> dict[str, dict[str, str]]:
        return volume_binds(self.volumes, self.read_only_volumes, self.format_volume_name, self)

    @property
    def labels(self) -> dict[str, str]:
        """Labels on every object, so the hub can find all it manages with one query and
        never mistake another user's, server's or deployment's object for this one."""
        return ownership.labels(self.user.name, self.name or "", self.deployment)

    def volume_labels(self, names_server: bool) -> dict[str, str]:
        """Labels of a volume of this user (of this server too if its template names it)."""
        server = (self.name or "") if names_server else None
        return ownership.labels(self.user.name, server, self.deployment)

    @property
    def volume_owners(self) -> dict[str, tuple[bool, bool]]:
        """Named volumes -> (names the user, names the server); see templating."""
        return volume_owners(
            self.volumes, self.read_only_volumes, self.mounts, self.format_volume_name, self
        )

    def labelled_mounts(self, mounts: list[dict]) -> list[dict]:
        """Volume mounts of this user's volumes with their labels, which the engine (or a
        Swarm node) gives the volume when it creates it."""
        owners = self.volume_owners
        labelled = []
        for mount in mounts:
            names_user, names_server = owners.get(mount.get("source"), (False, False))
            if mount.get("type", "volume") == "volume" and names_user and "labels" not in mount:
                mount = {**mount, "labels": self.volume_labels(names_server)}
            labelled.append(mount)
        return labelled

    async def claim_prefix(self) -> None:
        """Refuse to share a name prefix with another deployment on this engine (once per
        hub process and prefix)."""
        key = (id(self.engine), self.prefix, self.deployment)
        if key in _claimed:
            return
        conflict = await _claiming.ask(
            key, lambda: ownership.claim(self.engine, self.prefix, self.deployment)
        )
        if conflict:
            self.log.error("%s", conflict)
            raise SpawnFailed(conflict)
        _claimed.add(key)

    async def resolve(self, value: Any) -> Any:
        """A config value that may be a callable (sync or async) taking the spawner."""
        if callable(value):
            value = value(self)
            if inspect.isawaitable(value):
                value = await value
        return value

    async def rendered_extra(self, value: Any) -> dict:
        return render(await self.resolve(value) or {}, self.template_namespace())

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env["JUPYTER_IMAGE_SPEC"] = self.image
        env["JUPYTER_IMAGE"] = self.image
        for key, value in (("MEM_LIMIT", self._mem_limit), ("CPU_LIMIT", self._cpu_limit)):
            if value:
                env[key] = str(value)
            else:
                env.pop(key, None)
        return env

    _mem_limit: int | None = None
    _cpu_limit: float | None = None

    async def resolve_limits(self) -> None:
        """Evaluate callable limits for this start (dockerspawner evaluates them once, when
        the spawner is made). The values stay in mem_limit and cpu_limit until the next
        start, so hooks that read them afterwards (post_stop_hook, services) see what this
        start used, as with dockerspawner; the next start puts the callable back and asks
        it again (see _choose)."""
        for name in ("mem_limit", "cpu_limit"):
            value = getattr(self, name)
            if callable(value):
                self._choose(name, await self.resolve(value))
        self._mem_limit, self._cpu_limit = self.mem_limit, self.cpu_limit

    # -- engine --------------------------------------------------------------------------

    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        # kept: every poll asks for it, and finding the shared one costs more than a poll
        if self._engine is None:
            self._engine = Engine.shared(
                client_kwargs=self.client_kwargs,
                tls_config=self.tls_config,
                max_concurrency=self.docker_concurrency,
                call_timeout=self.docker_timeout,
                pull_timeout=self.pull_timeout,
            )
        return self._engine

    @observe("client_kwargs", "tls_config", "docker_concurrency", "docker_timeout",
             "pull_timeout")  # fmt: skip
    def _engine_settings_changed(self, change) -> None:
        self._engine = None

    # -- images --------------------------------------------------------------------------

    def allowed_image_choices(self) -> dict[str, str] | str:
        return image_options.normalize_allowed(self.allowed_images, self)

    #: this start's choices: trait -> (its value before, the value chosen)
    _chosen: dict[str, tuple[Any, Any]] = {}
    #: this start's GPUs (a count or "all") and extra placement constraints, from a profile
    chosen_gpus: int | str | None = None
    chosen_constraints: list[str] = []
    #: the chosen profile and choices, as the label a kept container carries ("": none)
    chosen_profile = ""

    async def choose_image(self) -> str:
        """Apply this start's choice (a profile, or an image of allowed_images) after
        checking user_options; return the image.

        A choice lasts one start: the next start without one gets the configured values
        again (or what a hook set since), never the last choice, which the user (maybe
        through a callable of their groups) may no longer be allowed to make.
        """
        self._undo_choices()
        if self.profiles:
            return await self._choose_profile()
        self.check_user_options()
        requested = (self.user_options or {}).get("image")
        if requested is None:
            return self.image
        try:
            image = image_options.resolve_image(requested, self.allowed_image_choices())
        except image_options.ImageNotAllowed as exc:
            raise SpawnException(str(exc), reason="image-not-allowed", status_code=400) from exc
        self._choose("image", image)
        return image

    def _choose(self, name: str, value: Any) -> None:
        before = getattr(self, name)
        if name in self._chosen:  # chosen twice in one start: the value to go back to is
            before = self._chosen[name][0]  # the one before the first choice
        setattr(self, name, value)
        self._chosen = {**self._chosen, name: (before, getattr(self, name))}

    def _undo_choices(self) -> None:
        for name, (before, chosen) in self._chosen.items():
            if getattr(self, name) == chosen:  # else a hook changed it since: keep that
                setattr(self, name, before)
        self._chosen = {}
        self.chosen_gpus, self.chosen_constraints, self.chosen_profile = None, [], ""

    async def visible_profiles(self) -> list[profile_options.Profile]:
        """The profiles this user may see now (a callable ``profiles`` is asked each time)."""
        configured = await self.resolve(self.profiles)
        try:
            return profile_options.visible(profile_options.parse(configured), self)
        except ValueError as exc:
            raise SpawnFailed(f"The profiles configuration is wrong: {exc}") from exc

    async def _choose_profile(self) -> str:
        if self.allowed_images:
            raise SpawnFailed(f"profiles and allowed_images are both set: {PROFILES_OR_IMAGES}")
        shown = await self.visible_profiles()
        options = dict(self.user_options or {})
        for key in self._hub_handled_options():
            options.pop(key, None)
        try:
            profile, settings = profile_options.choose(shown, options)
        except profile_options.ProfileRefused as exc:
            raise SpawnException(str(exc), reason="profile-not-allowed", status_code=400) from exc
        self.log.info("Starting %s with profile %s", self._log_name, profile.name)
        self.chosen_profile = profile_options.fingerprint(profile.name, settings)
        for name, value in settings.items():
            if name in profile_options.MERGED:
                self._choose(name, {**getattr(self, name), **value})
            elif name == "gpus":
                self.chosen_gpus = value
            elif name == "placement_constraints":
                self.chosen_constraints = list(value)
            else:
                self._choose(name, value)
        return self.image

    def _hub_handled_options(self) -> set[str]:
        """Keys of user_options that a dict apply_user_options hands to JupyterHub."""
        handled = self.apply_user_options
        return set(handled) if isinstance(handled, dict) else set()

    def check_user_options(self) -> None:
        """Refuse options nobody handles (a typo would otherwise be silently ignored).

        ``image`` is ours; keys named by a dict ``apply_user_options`` are the hub's; a
        callable ``apply_user_options`` may handle anything, so then all keys pass.
        """
        options = self.user_options or {}
        if callable(self.apply_user_options):
            return
        handled = {"image"} | self._hub_handled_options()
        unknown = sorted(set(options) - handled)
        if unknown:
            raise SpawnException(
                f"unknown user option(s): {', '.join(map(repr, unknown))}; "
                f"this hub accepts: {', '.join(sorted(handled))}",
                reason="bad-user-options",
                status_code=400,
            )

    async def ensure_image(self, image: str) -> dict | None:
        """Apply pull_policy; return the image's inspect data when known."""
        self.enter_phase("image")
        if self.pull_policy == "skip":
            return await self._inspected_once(image)
        local = image_options.built_locally(image)  # never pulled, whatever the policy
        pull_first = self.pull_policy == "always" and not local
        info = None if pull_first else await self.engine.inspect_image(image)
        if info is not None:
            return info
        if local:
            raise SpawnFailed(
                f"Image {image} is not on the Docker engine. hubdist's images are built on "
                "this machine and never pulled: no registry publishes them under that name, "
                "so a pull would run whatever someone else published there. Build it "
                "(docker compose build singleuser, or hubdist images build singleuser), or "
                "set HUBDIST_SINGLEUSER_IMAGE (DockerSpawner.image) to an image in a "
                "registry you trust."
            )
        if self.pull_policy == "never":
            raise SpawnFailed(
                f"Image {image} is not on the Docker engine and pull_policy is 'never'. "
                f"Build or pull it first (docker pull {image})."
            )
        self.emit_progress(5, f"Pulling image {image}")

        def report(progress: PullProgress) -> None:
            self.emit_progress(5 + int(50 * progress.fraction), progress.describe())

        try:
            await self.engine.pull(image, report)
        except EngineError as exc:
            raise SpawnFailed(f"Pulling image {image} failed: {exc}") from exc
        return await self.engine.inspect_image(image)

    _inspected: dict[tuple[int, str], dict] = {}  # shared by all spawners of the hub

    async def _inspected_once(self, image: str) -> dict | None:
        """The image's inspect data, asked once per image name (pull_policy "skip" means
        no check per start): whether it starts as root and its CMD come from it. None while
        this engine lacks the image (a Swarm manager may never have it)."""
        key = (id(self.engine), image)
        if key not in self._inspected:
            info = await self.engine.inspect_image(image)
            if info is None:
                return None
            self._inspected[key] = info
        return self._inspected[key]

    # -- readiness -----------------------------------------------------------------------

    async def wait_until_answering(
        self, candidates: list[tuple[str, int]], fail_if_gone: CallableType[[], Awaitable[None]]
    ) -> tuple[str, int]:
        """Return the first (host, port) that answers HTTP; ``fail_if_gone`` raises if the
        server died first.

        Waiting here (not in JupyterHub's later check) is what lets a crashing server fail
        the spawn at once with its reason instead of after http_timeout. Several candidates
        occur when the engine publishes one port per address family.
        """
        path = f"{self.server.base_url}api" if self.server else "/"

        async def answers(host: str, port: int) -> bool:
            if self.internal_ssl:  # the hub's own check with its client certificate follows
                return await readiness.answers_tls(host, port)
            return await readiness.answers_http(host, port, path)

        next_check = 0.0
        with readiness.waiting_for_an_answer():
            while True:
                for host, port in candidates:
                    if await answers(host, port):
                        return host, port
                if time.monotonic() >= next_check:
                    await fail_if_gone()
                    next_check = time.monotonic() + 0.5
                await asyncio.sleep(readiness.ask_interval())

    # -- progress ------------------------------------------------------------------------

    @property
    def progress_channel(self) -> ProgressChannel:
        if not hasattr(self, "_progress_channel"):
            self._progress_channel = ProgressChannel()
        return self._progress_channel

    def enter_phase(self, name: str) -> None:
        """The start moves on to ``name`` (hubdist.spawners.progress.PHASES), for metrics."""
        self.progress_channel.phase(name)

    def emit_progress(self, percent: int, message: str) -> None:
        self.log.debug("%s: %s", self._log_name, message)
        self.progress_channel.emit(percent, message)

    async def progress(self) -> AsyncIterator[dict]:
        async for event in self.progress_channel.follow():
            yield event
