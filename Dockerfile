# syntax=docker/dockerfile:1.7
# One image for every Alpha service; the compose file picks the verb (`alpha run …`).
#
# Stage 1 compiles wheels for the project and all of its dependencies (some may need a
# compiler on platforms without binary wheels). Stage 2 installs only those wheels into a
# clean python:3.11-slim, so no compiler, header or pip cache reaches production.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies change less often than the code: copy the metadata first for layer caching.
COPY pyproject.toml README.md* ./
COPY core ./core
COPY bots ./bots
COPY websocket_listener ./websocket_listener
COPY trade_sync ./trade_sync
COPY telegram_c2 ./telegram_c2
COPY database ./database
COPY paper_exchange ./paper_exchange
COPY devenv ./devenv
COPY demo ./demo
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
# pg_dump/pg_restore must match the server's major version (15): take them from PGDG,
# because Debian bookworm's own postgresql-client is 15 today but will not stay pinned.
ARG PG_MAJOR=15
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gnupg \
 && install -d /usr/share/postgresql-common/pgdg \
 && python -c "import urllib.request; urllib.request.urlretrieve('https://www.postgresql.org/media/keys/ACCC4CF8.asc', '/tmp/pgdg.asc')" \
 && gpg --dearmor -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg /tmp/pgdg.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg] http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-${PG_MAJOR} \
 && apt-get purge -y gnupg && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* /tmp/pgdg.asc

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels alpha-bots \
 && rm -rf /wheels

# A fixed numeric uid, so volume ownership (backups, listener spool) is predictable.
# The mount points exist in the image, owned by alpha: a fresh named volume copies that
# ownership, where a missing directory would be created root-owned and unwritable.
RUN groupadd --system --gid 10001 alpha \
 && useradd --system --uid 10001 --gid alpha --home-dir /app --create-home alpha \
 && install -d -o alpha -g alpha /app/.run /app/.run/spool /backups
WORKDIR /app
USER 10001:10001

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALPHA_LOG_FORMAT=json \
    ALPHA_HTTP_PORT=9100 \
    BACKUP_DIR=/backups \
    LISTENER_SPOOL_DIR=/app/.run/spool
EXPOSE 9100

# curl-free: the interpreter is already there. /healthz answers 503 when a check fails,
# which urlopen raises on, so the exit status is the service's real health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ALPHA_HTTP_PORT', '9100'), timeout=4)"]

ENTRYPOINT ["alpha"]
CMD ["--help"]
