# janitor as a long-lived service: `janitor serve` runs the policies in /policies on their
# schedules, keeps its SQLite store and reports in /data (or JANITOR_DATABASE_URL), and serves
# /healthz and /metrics on port 9464.
#
#   docker build -t janitor .
#   docker run -d -v janitor-data:/data -v "$PWD/policies:/policies:ro" \
#     -e JANITOR_HUB_USERNAME=acme-bot -e JANITOR_HUB_TOKEN_FILE=/run/secrets/hub_token \
#     -p 9464:9464 janitor
#   docker run --rm -v "$PWD/policies:/policies:ro" janitor schedule

# ---- build: install the package and its dependencies into a virtualenv
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY janitor/ janitor/
COPY migrations/ migrations/
RUN python -m venv /opt/janitor \
    && /opt/janitor/bin/pip install --no-cache-dir .

# ---- run: the virtualenv only, as a non-root user
FROM python:3.12-slim
# OCI annotations; tests/deploy checks version and licenses against pyproject.toml. Pass the
# repository's URL with --build-arg SOURCE_URL=https://github.com/<owner>/<repo>.
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="janitor" \
      org.opencontainers.image.description="Docker Hub registry hygiene: retention policies, safe batched deletes, recorded runs, reports" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}"
ENV PATH=/opt/janitor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JANITOR_DATA_DIR=/data \
    JANITOR_POLICIES=/policies \
    JANITOR_HTTP_PORT=9464
RUN groupadd --system --gid 10001 janitor \
    && useradd --system --uid 10001 --gid janitor --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin janitor \
    && mkdir -p /data /policies \
    && chown janitor:janitor /data
COPY --from=build /opt/janitor /opt/janitor
USER 10001:10001
WORKDIR /data
VOLUME ["/data", "/policies"]
EXPOSE 9464
# /healthz answers 200 while the scheduler runs and the store is reachable, 503 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('JANITOR_HTTP_PORT', '9464') + '/healthz', timeout=4)"]
# SIGTERM: janitor finishes the batch in flight, records the run and exits within 60 s; give
# it that long before a SIGKILL (`docker stop -t 70`, compose `stop_grace_period: 70s`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["janitor"]
CMD ["serve"]
