# Clarion: one image for `clarion serve` (API + UI) and `clarion worker`.
#
#   docker build -t clarion .
#   docker run -v $PWD/config:/config -p 8000:8000 -e CLARION_SECRET_KEY=... clarion
#
# The operator YAML is mounted at /config/clarion.yaml; the embedded SQLite database lives in
# the /data volume. For the scaled mode set CLARION_DATABASE_URL and CLARION_BROKER_URL
# (see README.md and docs/operations.md).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /app

# Dependencies first, from the same hash lock as `make run` and CI, so a code change reuses this layer.
COPY requirements/runtime.txt requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt

# The code finds migrations/, ui/ and plugins/ beside the package (appliance/paths.py), so the
# tree stays together under /app and the package is installed in place, as `make run` does.
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q appliance migrations

# An unprivileged user; it owns only the data volume.
RUN useradd --system --user-group --uid 10001 --no-create-home --shell /usr/sbin/nologin clarion \
    && mkdir -p /config /data \
    && chown clarion:clarion /data

# One JSON object per log line, for whatever collects the container's output.
ENV CLARION_DATABASE_URL=sqlite:////data/clarion.db \
    CLARION_LOG_FORMAT=json
VOLUME ["/config", "/data"]

USER clarion
EXPOSE 8000

# python:3.11-slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["clarion", "serve", "--config", "/config/clarion.yaml", "--host", "0.0.0.0", "--port", "8000"]
