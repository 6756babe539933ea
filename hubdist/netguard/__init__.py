"""Network isolation of users' servers: iptables rules, in chains of our own.

Users' servers share a Docker network with the hub and the proxy, and Docker lets any of
them connect anywhere: to another user's server, to the host and the services on it (the
hub's database, an engine's TCP port), to private networks, and to the cloud metadata
address 169.254.169.254, which hands out the machine's credentials. Zero to JupyterHub
blocks these with NetworkPolicies; on Docker the place is the DOCKER-USER chain, which
every forwarded packet passes. Packets to the host itself pass INPUT instead, so both jump
to our chains.

Packets between two containers on one bridge meet iptables only while the kernel hands
bridged packets to it (``net.bridge.bridge-nf-call-iptables = 1``, from the br_netfilter
module). Recent Docker releases no longer turn that on, and the guard, in a container,
cannot: so it looks, and while it is off the guard reports itself NOT effective (log,
``--check``, the status file) instead of healthy. ``./hubdist-up`` turns it on.

The rules recognise users' servers by source address: the network's ``--ip-range``, from
which Docker gives every container it attaches an address, while the hub and the proxy
have fixed addresses outside it. So the rules never change as servers come and go.

``hubdist netguard`` applies them, checks every few seconds that they are still there (a
firewall reload, ``iptables -F`` or a reboot loses them) and effective, and writes what it
found to a status file the hub reads before starting anyone's server (fail closed:
hubdist.spawners.guard). After putting rules back it deletes the connection-tracking
entries of users' servers, so no connection opened while they were missing lives on as
"established". Stopping the guard leaves the rules in place: a restart or an upgrade
opens no window. Only ``--remove`` or ``HUBDIST_NETGUARD=off`` take them out. Everything
lives in two chains named after the guard, filled in one iptables-restore transaction, so
applying twice changes nothing, no packet meets a half-built chain, and removing touches
nothing of anybody else's.
"""

from .command import main
from .iptables import Iptables, bridge_filtering_problem
from .ruleset import Destination, Guard, NetguardError, chain_names, restore_script, rules
from .status import Status

__all__ = [
    "Destination", "Guard", "Iptables", "NetguardError", "Status", "bridge_filtering_problem",
    "chain_names", "main", "restore_script", "rules",
]  # fmt: skip
