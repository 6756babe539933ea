"""The programs of the hub image besides JupyterHub itself, each a `hubdist` subcommand or
a service the hub runs: ``start`` (the hub container's entry point) with ``secrets``,
``proxy`` (configurable-http-proxy, supervised), ``culler``, ``prepull`` (the single-user
image on every swarm node) and ``baseimage`` (a Debian base image without a registry)."""
