"""The deployment's images: on the engine, and built from the same source."""

from __future__ import annotations

from ..engine import Engine
from ..spawners.options import built_locally
from .deployment import SOURCE_LABEL, Deployment
from .findings import OK, PROBLEM, Finding, named

REBUILD = (
    "./hubdist-up rebuilds images built from other source (docker compose build "
    "hub singleuser does it too)"
)


def _label(info: dict) -> str:
    return ((info.get("Config") or {}).get("Labels") or {}).get(SOURCE_LABEL, "")


@named("images")
async def check_images(deployment: Deployment, engine: Engine) -> list[Finding]:
    findings, sources = [], {}
    for role, image in deployment.images.items():
        info = await engine.inspect_image(image)
        if info is None:
            if built_locally(image):
                advice = f"build it: ./hubdist-up (or docker compose build {role})"
            else:
                advice = f"pull it: docker pull {image} (or the hub pulls it at the next start)"
            findings.append(Finding("images", PROBLEM, f"{role} image {image} is missing", advice))
            continue
        if built_locally(image):  # ours: built from a source we can compare
            sources[role] = (image, _label(info))
    expected = deployment.source  # on the host, in a checkout: the checkout's
    if not expected and "hub" in sources:  # else the hub's own: both built together
        expected = sources["hub"][1]
    for role, (image, source) in sources.items():
        if expected and source != expected:
            built = f"source {source}" if source else "no source label"
            against = "this checkout" if deployment.source else "the hub image"
            findings.append(
                Finding(
                    "images",
                    PROBLEM,
                    f"{role} image {image} was built from {built}, not {against}'s ({expected})",
                    REBUILD,
                )
            )
    if not findings:
        built = f", built from {expected}" if expected else ""
        findings.append(Finding("images", OK, ", ".join(deployment.images.values()) + built))
    return findings
