# hubdist hub image: JupyterHub with hubdist, configurable-http-proxy, tini as PID 1.
# Python packages at the versions locked in requirements/hub.txt (requirements/refresh makes
# it; JupyterHub's version is hubdist/_versions.py's).
# One image, two services: the hub (the default command, `hubdist start`) and the proxy
# (`hubdist proxy`), which runs apart so that restarting the hub cuts no user's connection.
#
# BASE_IMAGE is the public image a user pulls by default. Without a registry, build FROM a
# local Debian base made by `hubdist base-image` (see images/README.md). Any Debian-based
# image with python3 (and venv) works.
#
#   ./hubdist-up                                 # builds this and the single-user image
#   docker build -t hubdist/hub:latest .         # or by hand
ARG BASE_IMAGE=python:3.12-slim-trixie

# -- configurable-http-proxy, installed by npm in a throwaway stage (npm stays behind) ------
FROM ${BASE_IMAGE} AS proxy
ARG CHP_VERSION=5.3.0
# CHP 5.3 declares node >= 20: Debian trixie (the default base) has 20. bookworm has 18,
# on which CHP 5.3.0 was checked to work (routes API, HTTP and websocket proxying); npm
# only warns about the declared engine there. Prefer a trixie base where you can.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; \
    rm -rf /var/lib/apt/lists/*; \
    node_major=$(node -p 'process.versions.node.split(".")[0]'); \
    if [ "$node_major" -lt 20 ]; then \
        echo "NOTE: node $(node --version) is older than the node >= 20 that CHP declares"; \
    fi; \
    npm install --prefix /opt/configurable-http-proxy --omit=dev --no-audit --no-fund \
        --no-update-notifier --loglevel=error "configurable-http-proxy@${CHP_VERSION}"

# -- the hub ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# node runs the proxy; tini reaps and forwards signals; both are no-ops where present.
# iptables: `hubdist netguard` (the compose service isolating users' servers) runs from this
# image too; Debian's package has both backends, nf_tables (its default) and legacy.
# conntrack: netguard ends connections opened while its rules were missing.
# caddy: `hubdist edge` (HTTPS in front of the proxy when HUBDIST_DOMAIN is set) runs it.
# libpq5: PostgreSQL's client library, which the psycopg driver (HUBDIST_DATABASE=postgres) uses.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nodejs tini ca-certificates iptables conntrack caddy libpq5; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/*

COPY --from=proxy /opt/configurable-http-proxy /opt/configurable-http-proxy
RUN set -eux; \
    ln -s /opt/configurable-http-proxy/node_modules/.bin/configurable-http-proxy \
        /usr/local/bin/configurable-http-proxy; \
    configurable-http-proxy --version

ENV VIRTUAL_ENV=/opt/hubdist \
    PATH=/opt/hubdist/bin:$PATH \
    PYTHONUNBUFFERED=1
# The locked third-party packages first: a change to hubdist's code does not reinstall them.
COPY requirements/hub.txt /usr/share/hubdist/requirements/hub.txt
RUN set -eux; \
    python3 -m venv /opt/hubdist; \
    pip install --no-cache-dir --disable-pip-version-check \
        -r /usr/share/hubdist/requirements/hub.txt

COPY setup.cfg pyproject.toml README.md /tmp/hubdist-src/
COPY hubdist /tmp/hubdist-src/hubdist
# hubdist's version, for the label below: a unit test keeps this default equal to
# hubdist/__init__.py's, and the build fails if the installed package says otherwise.
ARG HUBDIST_VERSION=0.2.0.dev0
# -c: hubdist's own requirements must be met by the locked versions (nothing else is fetched).
# hubdist.database.schema saves JupyterHub's newest schema revision, which `hubdist start`
# would otherwise read from alembic's scripts at every start of the hub (0.3 CPU-s).
RUN set -eux; \
    pip install --no-cache-dir --disable-pip-version-check \
        -c /usr/share/hubdist/requirements/hub.txt "/tmp/hubdist-src[postgres]"; \
    rm -rf /tmp/hubdist-src; \
    pip check; \
    hubdist --help >/dev/null; \
    python3 -m hubdist.database.schema; \
    python3 -c 'import psycopg; print("psycopg", psycopg.__version__, "libpq", psycopg.pq.version())'; \
    test "$(hubdist --version)" = "$HUBDIST_VERSION" || { \
        echo "the HUBDIST_VERSION label ($HUBDIST_VERSION) is not hubdist's $(hubdist --version)"; \
        exit 1; }

# The image build contexts, so `hubdist images build` can run from inside the hub.
COPY images /usr/share/hubdist/images
ENV HUBDIST_IMAGES_DIR=/usr/share/hubdist/images
# JupyterHub imports jsonschema (through jupyter-events), which builds rfc3987_syntax's ~40
# grammars at import: 1.3 of the 2.5 s `import jupyterhub.app` took here, at every start
# of the hub and of every `hubdist` command that loads it. The single-user image's
# hubdist_lazy_iri (docs/performance.md) defers that work to the first IRI check.
RUN set -eux; \
    site=$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
    install -m 0644 /usr/share/hubdist/images/singleuser/python/hubdist_lazy_iri.py "$site/"; \
    echo "import hubdist_lazy_iri" >"$site/hubdist-startup.pth"; \
    python3 -m compileall -q "$site/hubdist_lazy_iri.py"; \
    python3 -c 'import sys, jupyterhub.app; assert "lark" not in sys.modules'
# aiohttp (JupyterHub's HTTP client) loads the CA bundle twice when imported, for default SSL
# contexts the hub never uses (0.07-0.2 CPU-s a start): made on first use instead (the script says
# why; the build fails if aiohttp's files are not as it expects).
RUN set -eux; \
    cd /usr/share/hubdist/images/singleuser/edits; \
    python3 -B aiohttp_ssl_contexts.py; \
    aiohttp=$(python3 -c 'import aiohttp, os; print(os.path.dirname(aiohttp.__file__))'); \
    python3 -m compileall -q "$aiohttp"
COPY config/jupyterhub_config.py /etc/hubdist/jupyterhub_config.py
# The proxy faces the internet: its container runs as this account (docker-compose.yml's
# user:), which owns the folder of the proxy token (a new volume copies the owner) and
# nothing else. The hub, as root, hands older token files over to it (`hubdist start`).
RUN set -eux; \
    groupadd --system --gid 10001 hubdist-proxy; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin hubdist-proxy; \
    mkdir -p /etc/hubdist/config.d /srv/jupyterhub /srv/hubdist-shared; \
    chown hubdist-proxy:hubdist-proxy /srv/hubdist-shared; \
    chmod 700 /srv/hubdist-shared
# The edge (HTTPS) faces the internet too, as its own account: it alone reads and writes the
# ACME account and certificates (/srv/hubdist-tls, a volume) and writes the status the hub
# reads (/run/hubdist-tls).
RUN set -eux; \
    groupadd --system --gid 10002 hubdist-edge; \
    useradd --system --uid 10002 --gid 10002 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin hubdist-edge; \
    mkdir -p /srv/hubdist-tls /run/hubdist-tls /etc/hubdist/tls; \
    chown hubdist-edge:hubdist-edge /srv/hubdist-tls /run/hubdist-tls; \
    chmod 700 /srv/hubdist-tls; \
    caddy version

# Data (database, secrets, trial passwords): mount a volume here. The proxy token goes to
# HUBDIST_SHARED_DIR (default: here), a folder the hub and the proxy both mount.
WORKDIR /srv/jupyterhub
# 8000: the proxy's public port; 8001: its API; 8081: the hub's API. Publish only 8000,
# or, with HTTPS, the edge's 8080 and 8443 (on 80 and 443).
EXPOSE 8000 8001 8081 8080 8443

# The hub's own health (the proxy service overrides this with `hubdist proxy --check`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import urllib.request as r; r.urlopen('http://127.0.0.1:8081/hub/health', timeout=4)"]

ENTRYPOINT ["tini", "-g", "--"]
# Secrets first (generated once, or from *_FILE), then hubdist-hub (JupyterHub) -f the config above.
CMD ["hubdist", "start"]

# At the end, so that a new revision rebuilds no layer. `hubdist images build` and
# ./hubdist-up pass the git revision when the source is a git checkout.
ARG HUBDIST_REVISION=
LABEL org.opencontainers.image.title="hubdist hub" \
      org.opencontainers.image.description="JupyterHub with hubdist and configurable-http-proxy" \
      org.opencontainers.image.version="${HUBDIST_VERSION}" \
      org.opencontainers.image.revision="${HUBDIST_REVISION}" \
      org.opencontainers.image.licenses="BSD-3-Clause"
