"""dockerspawner's old names, kept so that configs written for it still load: deprecated
aliases (set the new option, with a warning) and options dockerspawner itself ignores
(accepted, with a warning saying what to use instead)."""

from __future__ import annotations

from jupyterhub.traitlets import Callable
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, HasTraits, Integer, List, Unicode, Union, observe

# dockerspawner's deprecated names: old -> (new, version that deprecated it)
DEPRECATED_ALIASES = {
    "container_ip": ("host_ip", "0.9.*"),
    "container_port": ("port", "0.9.*"),
    "container_image": ("image", "0.9.*"),
    "container_prefix": ("prefix", "0.10.0"),
    "container_name_template": ("name_template", "0.10.0"),
    "image_whitelist": ("allowed_images", "12.0"),
}

# accepted for old configs, with a warning: old -> what to use instead
IGNORED_OPTIONS = {
    "use_docker_client_env": "DOCKER_HOST and friends are always honoured",
    **{
        name: "set tls_config instead"
        for name in ("tls", "tls_verify", "tls_ca", "tls_cert", "tls_key", "tls_assert_hostname")
    },
    "hub_ip_connect": "set JupyterHub.hub_connect_ip instead",
    "certs_volume_name": "internal-SSL certificates are copied into the server's container",
    "move_certs_image": "internal-SSL certificates are copied without a helper container",
}


class DeprecatedNames(HasTraits):
    """The aliases and ignored options every hubdist spawner accepts (DockerSpawner also
    takes remove_containers, an alias of its own option remove)."""

    container_ip = Unicode(config=True, help="Deprecated alias of host_ip.")
    container_port = Integer(config=True, help="Deprecated alias of port.")
    container_image = Unicode(config=True, help="Deprecated alias of image.")
    container_prefix = Unicode(config=True, help="Deprecated alias of prefix.")
    container_name_template = Unicode(config=True, help="Deprecated alias of name_template.")
    image_whitelist = Union(
        [Unicode(), Dict(), List(), Callable()],
        config=True,
        help="Deprecated alias of allowed_images.",
    )

    @observe(*DEPRECATED_ALIASES)
    def _deprecated_alias_changed(self, change) -> None:
        self.use_alias(change, *DEPRECATED_ALIASES[change.name])

    def use_alias(self, change, new: str, version: str) -> None:
        """An old name was set: warn, and set the new one."""
        cls = type(self).__name__
        self.log.warning(
            "%s.%s is deprecated in DockerSpawner %s, use %s.%s instead",
            cls, change.name, version, cls, new,
        )  # fmt: skip
        setattr(self, new, change.new)

    # dockerspawner ignores these already; accepted so old configs still load
    use_docker_client_env = Bool(
        True, config=True, help="Ignored (Docker env vars are always used)."
    )
    tls = AnyTrait(config=True, help="Ignored; use tls_config.")
    tls_verify = AnyTrait(config=True, help="Ignored; use tls_config.")
    tls_ca = AnyTrait(config=True, help="Ignored; use tls_config.")
    tls_cert = AnyTrait(config=True, help="Ignored; use tls_config.")
    tls_key = AnyTrait(config=True, help="Ignored; use tls_config.")
    tls_assert_hostname = AnyTrait(config=True, help="Ignored; use tls_config.")
    hub_ip_connect = Unicode(config=True, help="Ignored; use JupyterHub.hub_connect_ip.")
    certs_volume_name = Unicode(
        "{prefix}ssl-{username}",
        config=True,
        help="""Ignored: with internal_ssl the certificates are copied into the server's own
        container at /certs, not into a volume.""",
    )
    move_certs_image = Unicode(
        "busybox:1.30.1",
        config=True,
        help="Ignored: no helper container copies certificates.",
    )

    @observe(*IGNORED_OPTIONS)
    def _ignored_option_set(self, change) -> None:
        self.log.warning(
            "%s.%s is ignored (as in dockerspawner): %s",
            type(self).__name__, change.name, IGNORED_OPTIONS[change.name],
        )  # fmt: skip
