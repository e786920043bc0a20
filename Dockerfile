# System Reality for Jira: the web app and its worker in one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    INSTANCE_PATH=/var/lib/system-reality

RUN apt-get update && apt-get install -y --no-install-recommends curl git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 reality \
    && mkdir -p /var/lib/system-reality && chown reality /var/lib/system-reality

WORKDIR /app
COPY pyproject.toml README.md atlassian-connect.json ./
COPY connect_app ./connect_app
COPY templates ./templates
COPY static ./static
RUN pip install .

USER reality
EXPOSE 8000
# APP_BASE_URL (public https URL), DATABASE_URL and APP_SECRET_KEY come from the environment.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["connect-app", "serve", "--bind", "0.0.0.0:8000"]
