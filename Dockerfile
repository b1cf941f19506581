# syntax=docker/dockerfile:1
#
# syncd's container image: `syncd run` (the daemon, the default) or any other subcommand.
#
#   docker build -t syncd:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm -p 9108:9108 -v "$PWD/syncd.yaml:/etc/syncd/syncd.yaml:ro" \
#       -v syncd-state:/var/lib/syncd -e META_ACCESS_TOKEN syncd:0.1.0
#   docker run --rm ... syncd:0.1.0 sync --once /etc/syncd/syncd.yaml
#
# Linted by tests/test_deploy.py (hadolint, no findings allowed); no container engine is needed
# for that. Both stages use the same base image, so the virtualenv built in the first one runs
# unchanged in the second (its interpreter link points at /usr/local/bin/python3.11 in both).

# ---- build: a wheel of the project, installed with its dependencies into /opt/venv ----------
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps everything else out of the context).
COPY pyproject.toml README.md ./
COPY syncd ./syncd

# Every dependency ships a manylinux wheel for CPython 3.11 (duckdb, pyarrow, grpcio, ...),
# so no compiler is needed here either. The venv gets no pip or setuptools of its own: the
# base image's pip installs into it, and the runtime stage carries no build tools.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir /wheels/syncd-*.whl \
    && /opt/venv/bin/syncd --help > /dev/null

# ---- runtime: the venv, a non-root user, nothing else ---------------------------------------
FROM python:3.11-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown

LABEL org.opencontainers.image.title="syncd" \
      org.opencontainers.image.description="Keeps Google Ads and Meta custom audiences equal to warehouse segments." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# SYNCD_STATE__PATH overrides the config's state.path: the state lives on the writable volume,
# whatever path the (shared, read-only) config file names.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}" \
    SYNCD_STATE__PATH=/var/lib/syncd/state.duckdb

# A numeric, non-root user (uid/gid 10001), so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --gid 10001 syncd \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/syncd \
        --no-create-home --shell /usr/sbin/nologin syncd \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/syncd \
    && install -d -m 0755 /etc/syncd

COPY --from=build /opt/venv /opt/venv

WORKDIR /var/lib/syncd
USER 10001:10001

# /healthz, /readyz and /metrics (Prometheus), served by `syncd run --listen 0.0.0.0:9108`.
EXPOSE 9108
STOPSIGNAL SIGTERM

# No curl in a slim image: the stdlib fetches /healthz; any error or non-2xx status exits 1.
# Docker and Compose use this; Kubernetes ignores it and uses the probes in deployment.yaml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["syncd"]
CMD ["run", "/etc/syncd/syncd.yaml"]
