"""hubdist's own figures, for Prometheus, beside JupyterHub's.

They live in prometheus_client's default registry, the one JupyterHub serves at
/hub/metrics, so one scrape (with a token holding the ``read:metrics`` scope, see
:func:`scrape_service`) gets both. Names start with ``hubdist_``; docs/operations.md
("Metrics") lists them. Only the hub process fills them: the engine and the spawners
record here, nothing reads them back.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: a spawn's steps take from milliseconds (creating a container) to minutes (a pull)
_SPAWN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

SPAWN_PHASE_SECONDS = Histogram(
    "hubdist_spawn_phase_duration_seconds",
    "Time a server's start spent in each phase (hubdist.spawners.progress.PHASES); "
    "outcome=failed for the phase a failed or cancelled start ended in",
    ["phase", "outcome"],
    buckets=_SPAWN_BUCKETS,
)
SPAWN_SECONDS = Histogram(
    "hubdist_spawn_duration_seconds",
    "Time from the spawner's start to a server answering (ok) or the start failing",
    ["outcome"],
    buckets=_SPAWN_BUCKETS,
)
IMAGE_PULLS = Counter(
    "hubdist_image_pulls_total",
    "Image pulls the hub made (concurrent requests for one image share one pull)",
    ["outcome"],
)
IMAGE_PULL_SECONDS = Histogram(
    "hubdist_image_pull_duration_seconds",
    "Duration of the image pulls the hub made",
    ["outcome"],
    buckets=_SPAWN_BUCKETS,
)
ENGINE_CALL_SECONDS = Histogram(
    "hubdist_engine_call_duration_seconds",
    "Docker API calls of the hub (hubdist.engine.Engine), by call and outcome "
    "(ok, not_found, error: the engine refused, timeout, unavailable: not reachable, "
    "cancelled: the caller gave up first)",
    ["call", "outcome"],
    buckets=_CALL_BUCKETS,
)
EVENT_STREAM_RECONNECTS = Counter(
    "hubdist_engine_event_stream_reconnects_total",
    "Times the Docker event stream broke and was opened again (an engine restart, a "
    "dropped connection); the view of containers is listed afresh after each",
)

#: the scope JupyterHub asks of whoever reads /hub/metrics
METRICS_SCOPE = "read:metrics"
#: the service and role the default configuration makes for HUBDIST_METRICS_TOKEN
SCRAPER = "metrics-scraper"
#: JupyterHub refuses shorter API tokens (jupyterhub.orm.APIToken.min_length)
TOKEN_MIN_LENGTH = 8


def scrape_service(token: str) -> tuple[dict, dict]:
    """The JupyterHub service (with ``token``) and role that let Prometheus read
    /hub/metrics and nothing else; ValueError saying what to do if the token is unusable."""
    if len(token) < TOKEN_MIN_LENGTH or any(ch.isspace() for ch in token):
        raise ValueError(
            f"HUBDIST_METRICS_TOKEN must be at least {TOKEN_MIN_LENGTH} characters without "
            "spaces; make one with: openssl rand -hex 32"
        )
    service = {"name": SCRAPER, "api_token": token}
    role = {
        "name": SCRAPER,
        "description": "Read /hub/metrics (Prometheus); nothing else",
        "scopes": [METRICS_SCOPE],
        "services": [SCRAPER],
    }
    return service, role
