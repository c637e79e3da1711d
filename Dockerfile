# One image for every Alpha service; the compose file picks the verb (`alpha run …`).
#
# Both stages start from Debian bookworm (BASE_IMAGE): Python 3.11 and pg_dump/pg_restore
# 15, which must match the server's major version, come from Debian's own packages, so
# the image builds from `debian:bookworm-slim` or from a base made without any registry
# (deploy/images/build-base). Stage 1 builds wheels for the project and its
# dependencies; stage 2 installs only those wheels into a virtual environment, so no
# compiler, header or pip cache reaches production. Builds with the classic builder.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build
ENV PATH=/opt/build/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies change less often than the code: resolve them from the metadata first, so
# a code change rebuilds only the last layer.
COPY pyproject.toml README.md ./
RUN mkdir -p core && touch core/__init__.py \
 && pip wheel --wheel-dir /wheels . \
 && rm -f /wheels/alpha_bots-*.whl
COPY core ./core
COPY bots ./bots
COPY websocket_listener ./websocket_listener
COPY trade_sync ./trade_sync
COPY telegram_c2 ./telegram_c2
COPY database ./database
COPY paper_exchange ./paper_exchange
COPY devenv ./devenv
COPY demo ./demo
COPY market_data ./market_data
COPY api ./api
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN python3 -m venv /opt/alpha \
 && /opt/alpha/bin/pip install --no-cache-dir --no-index --find-links=/wheels alpha-bots \
 && rm -rf /wheels

# A fixed numeric uid, so volume ownership (backups, listener spool) is predictable.
# The mount points exist in the image, owned by alpha: a fresh named volume copies that
# ownership, where a missing directory would be created root-owned and unwritable.
RUN groupadd --system --gid 10001 alpha \
 && useradd --system --uid 10001 --gid alpha --home-dir /app --create-home alpha \
 && install -d -o alpha -g alpha -m 0700 /app/.run /app/.run/spool /backups
WORKDIR /app
USER 10001:10001

ENV PATH=/opt/alpha/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALPHA_LOG_FORMAT=json \
    ALPHA_HTTP_PORT=9100 \
    BACKUP_DIR=/backups \
    LISTENER_SPOOL_DIR=/app/.run/spool
EXPOSE 9100

# curl-free: the interpreter is already there. /healthz answers 503 when a check fails,
# which urlopen raises on, so the exit status is the service's real health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ALPHA_HTTP_PORT', '9100'), timeout=4)"]

ENTRYPOINT ["alpha"]
CMD ["--help"]
