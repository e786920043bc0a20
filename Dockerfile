# System Reality for Jira: the web app and its worker in one image.
#
# The build stage turns the source into a wheel. The runtime stage installs the wheel's
# dependencies in a layer of their own (rebuilt only when they change), then the wheel itself.
# No source tree is copied into the image: templates/ and static/ travel inside the package, so
# the app does not depend on its working directory.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The same inputs tests/integration/test_wheel.py builds from.
COPY pyproject.toml setup.py README.md ./
COPY connect_app ./connect_app
COPY templates ./templates
COPY static ./static
RUN pip wheel --no-deps --wheel-dir /dist . \
    && pip install --no-deps /dist/*.whl \
    && python -c "from importlib.metadata import requires; print('\n'.join(r for r in requires('system-reality-for-jira') if 'extra ==' not in r))" \
       > /dist/requirements.txt

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INSTANCE_PATH=/var/lib/system-reality

RUN apt-get update && apt-get install -y --no-install-recommends curl git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 reality \
    && mkdir -p /var/lib/system-reality && chown reality /var/lib/system-reality

# Dependencies first: this layer is reused as long as the wheel's requirements are unchanged.
COPY --from=build /dist/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# Then the app, from the wheel alone.
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-deps /tmp/*.whl && pip check && rm /tmp/*.whl

USER reality
WORKDIR /home/reality
EXPOSE 8000
# APP_BASE_URL (public https URL), DATABASE_URL and APP_SECRET_KEY come from the environment.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["connect-app", "serve", "--bind", "0.0.0.0:8000"]
