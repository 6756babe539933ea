"""Images on every node before the first spawn: one global Swarm service per image.

Swarm pulls a service's image on a node before it runs the service's task there, and a
global service has a task on every node, including nodes that join later. So a global
service that runs the single-user image with a command that only waits makes every node
pull the image as soon as it joins, without anyone getting a node's Docker socket (Zero
to JupyterHub's continuous image puller does the same on Kubernetes).

    hubdist prepull                      # HUBDIST_SINGLEUSER_IMAGE on every node
    hubdist prepull IMAGE... --constraint node.role==worker
    hubdist prepull --refresh IMAGE      # pull again (a tag that was pushed anew)
    hubdist prepull --remove

Run it on a manager (in the hub's container: ``docker exec CONTAINER hubdist prepull``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .. import names
from ..engine import Engine, EngineError

LABEL = f"{names.LABEL}.prepull"
# waits, and leaves at once on SIGTERM; any image with a POSIX shell can run it
IDLE_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]


def service_name(prefix: str, image: str) -> str:
    return names.object_name(f"{prefix}-prepull-{names.image_slug(image)}")


def service_spec(prefix: str, image: str, constraints: list[str]) -> dict:
    """The global service holding ``image`` on every node (Engine.create_global_service)."""
    return {
        "name": service_name(prefix, image),
        "labels": {LABEL: image},
        "networks": [],
        "container": {
            "image": image,
            "command": IDLE_COMMAND,
            "user": "65534:65534",  # nobody: it only waits
            "cap_drop": ["ALL"],
            "read_only": True,
            "healthcheck": {"Test": ["NONE"]},  # the image's check is for a real server
            "labels": {LABEL: image},
        },
        "resources": {"mem_limit": 32 * 1024**2, "cpu_limit": 10**7},  # a hundredth of a CPU
        "placement": {"constraints": constraints or None},
        "endpoint": None,
    }


async def ensure(
    engine: Engine, prefix: str, images: list[str], constraints: list[str], refresh: bool
) -> list[str]:
    """Make (or with ``refresh`` remake) the pre-puller of each image; returns their names."""
    made = []
    for image in images:
        spec = service_spec(prefix, image, constraints)
        existing = await engine.inspect_service(spec["name"])
        if existing is not None and refresh:
            await engine.remove_service(spec["name"])
        if existing is None or refresh:
            await engine.create_global_service(spec)
        made.append(spec["name"])
    return made


async def remove(engine: Engine, prefix: str) -> list[str]:
    services = await engine.list_services({LABEL: ""})
    gone = [s["Spec"]["Name"] for s in services if s["Spec"]["Name"].startswith(prefix)]
    for name in gone:
        await engine.remove_service(name)
    return gone


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hubdist prepull", description="keep images pulled on every swarm node"
    )
    parser.add_argument(
        "images", nargs="*", metavar="IMAGE", help="default: $HUBDIST_SINGLEUSER_IMAGE"
    )
    parser.add_argument(
        "--prefix", default=os.environ.get("HUBDIST_PREFIX", "hubdist"), help="service names"
    )
    parser.add_argument(
        "--constraint", action="append", default=[], help="only on these nodes (repeatable)"
    )
    parser.add_argument("--refresh", action="store_true", help="remake, so nodes pull again")
    parser.add_argument("--remove", action="store_true", help="remove the pre-pullers")
    args = parser.parse_args(argv)
    engine = Engine()
    try:
        if args.remove:
            for name in asyncio.run(remove(engine, args.prefix)):
                print(f"removed {name}")
            return 0
        images = args.images or [os.environ.get("HUBDIST_SINGLEUSER_IMAGE", "")]
        if not all(images):
            parser.error("name an IMAGE or set HUBDIST_SINGLEUSER_IMAGE")
        made = asyncio.run(ensure(engine, args.prefix, images, args.constraint, args.refresh))
    except EngineError as exc:
        print(f"hubdist prepull: {exc} (run it on a swarm manager)", file=sys.stderr)
        return 1
    for name, image in zip(made, images, strict=True):
        print(f"{name}: every node pulls {image} (docker service ps {name})")
    return 0
