"""HTTPS for the hub: the edge (Caddy, in front of the proxy) and what it serves.

``settings`` (the edge's environment, checked), ``caddy`` (Caddy's configuration for each
mode), ``certificates`` (reading and checking certificates), ``status`` (what is served,
for the log, ``hubdist config show`` and the hub). The program is hubdist.services.edge.
"""
