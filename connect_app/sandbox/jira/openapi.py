"""Checks the simulator's traffic against Jira's published OpenAPI spec.

The spec (tests/fixtures/jira-openapi/swagger-v3.v3.json, about 400 paths) takes a second to
load, so it is loaded once per process and per path. The spec itself fails strict spec
validation (a `default: ''` outside its enum), hence `spec_validator_cls=None`.

openapi-core is a development dependency: when it is not installed (a production install
running `connect-app demo`) `SpecChecker.available` is False and nothing is checked.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.wrappers import Request, Response

try:
    from openapi_core import Config, OpenAPI
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse
    from openapi_core.datatypes import RequestParameters
    from openapi_core.templating.paths.exceptions import PathNotFound
    from openapi_core.validation.request.validators import V30RequestValidator
    from openapi_core.validation.response.exceptions import MissingData
    from openapi_core.validation.response.validators import V30ResponseValidator
except ImportError:  # pragma: no cover - exercised only without the dev extras
    OpenAPI = None  # type: ignore[assignment,misc]

# Where the reference copy of the spec lives in a source checkout.
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "jira-openapi" / "swagger-v3.v3.json"
# Jira Software's deployments and feature flags bulk APIs (another spec; see its SOURCE.md).
DEVOPS_SPEC_PATH = (Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "jira-software-openapi"
                    / "devops-bulk.v3.json")

_cache: dict[Path, Any] = {}
_cache_lock = threading.Lock()


if OpenAPI is not None:

    class _ConnectRequestValidator(V30RequestValidator):
        """Request validation without the spec's security requirements.

        The spec only knows OAuth 2.0 and basic auth; Connect apps authenticate with a
        `JWT` Authorization header that the spec does not describe. The simulator verifies
        that JWT itself (signature, issuer, qsh, expiry) before the spec is consulted, so the
        spec's schemes must not turn every correctly signed request into a violation.
        """

        def _get_security(self, parameters: Any, operation: Any) -> None:  # type: ignore[override]
            return None


_JIRA_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def _is_jira_date_time(value: object) -> bool:
    """RFC 3339, plus the `+0000` offset (no colon) that real Jira sends in every timestamp
    (`2024-05-01T10:00:00.000+0000`) although the spec says `format: date-time`."""
    return not isinstance(value, str) or bool(_JIRA_DATE_TIME.match(value))


def load_spec(path: str | Path) -> Any:
    """The parsed spec at `path`, loaded once per process."""
    resolved = Path(path).resolve()
    with _cache_lock:
        spec = _cache.get(resolved)
        if spec is None:
            if OpenAPI is None:
                raise RuntimeError("openapi-core is not installed")
            # Parsed as the JSON it is: openapi-core's own file loader reads it as YAML, which
            # takes seconds for Jira's 2 MB spec in every process that starts a simulator.
            spec = OpenAPI.from_dict(
                json.loads(resolved.read_text(encoding="utf-8")),
                base_uri=resolved.as_uri(),
                config=Config(
                    spec_validator_cls=None,
                    request_validator_cls=_ConnectRequestValidator,
                    response_validator_cls=V30ResponseValidator,
                    extra_format_validators={"date-time": _is_jira_date_time},
                ),
            )
            _cache[resolved] = spec
        return spec


@dataclass
class _SpecRequest:
    """A werkzeug request presented as if it had reached the spec's declared server.

    The spec declares `https://your-domain.atlassian.net`; the simulator answers on
    127.0.0.1 with a random port, so the host is swapped for the declared one and only the
    path, query, headers and body are judged.
    """

    request: Request
    host_url: str

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.request.args),
            header=Headers(self.request.headers),
            cookie=self.request.cookies,
        )

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def full_url_pattern(self) -> str:
        return self.host_url.rstrip("/") + self.request.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.get_data(as_text=False)

    @property
    def content_type(self) -> str:
        return self.request.content_type or "application/octet-stream"


def _describe(exc: BaseException) -> str:
    """One line per problem, including the schema errors openapi-core nests in causes."""
    parts = [str(exc)]
    cause = exc.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts.extend(getattr(err, "message", str(err)) for err in schema_errors)
        else:
            parts.append(str(cause))
        cause = cause.__cause__
    return "; ".join(p for p in parts if p)


# App-gateway resources a Connect app calls on the site that Jira's platform spec does not
# describe; the simulator's own handler checks their contract (source noted there).
# `/app/report-accounts/`: the personal data reporting API, developer.atlassian.com/cloud/jira/
# platform/user-privacy-developer-guide/ (see connect_app/sandbox/jira/rest/privacy.py).
GATEWAY_PATHS = frozenset({"/app/report-accounts/"})


class SpecChecker:
    """Validates requests and responses of one simulator against the spec at `spec_path`."""

    def __init__(self, spec_path: str | Path | None) -> None:
        self.available = OpenAPI is not None and spec_path is not None and Path(spec_path).is_file()
        self._spec = load_spec(spec_path) if self.available and spec_path is not None else None
        self._server = ""
        if self._spec is not None:
            servers = self._spec.spec.get("servers") or [{"url": "https://your-domain.atlassian.net"}]
            url = urlsplit(str(servers[0]["url"]))
            self._server = f"{url.scheme}://{url.netloc}/"

    def knows_path(self, request: Request) -> bool:
        """Whether the spec declares the request's path at all (else Jira answers 404)."""
        if self._spec is None or request.path in GATEWAY_PATHS:
            return True
        try:
            self._spec.validate_request(_SpecRequest(request, self._server))
        except PathNotFound:
            return False
        except Exception:  # anything else means the path was found
            return True
        return True

    def check_request(self, request: Request) -> list[str]:
        """Problems the spec finds with `request`; empty when it is allowed."""
        if self._spec is None or request.path in GATEWAY_PATHS:
            return []
        try:
            self._spec.validate_request(_SpecRequest(request, self._server))
        except Exception as exc:  # openapi-core signals every finding as an exception
            return [f"{request.method} {request.path}: {_describe(exc)}"]
        return []

    def check_response(self, request: Request, response: Response) -> list[str]:
        """Problems the spec finds with the simulator's own `response` to `request`."""
        if self._spec is None or request.path in GATEWAY_PATHS:
            return []
        try:
            self._spec.validate_response(_SpecRequest(request, self._server), WerkzeugOpenAPIResponse(response))
        except MissingData:
            # The spec gives empty-bodied answers (204 on edit and transition, 200/201 on a
            # property PUT) an `application/json` content of schema `{}`; real Jira sends no
            # body there, and neither does the simulator.
            if response.get_data():
                return [f"response {response.status_code} to {request.method} {request.path}: missing data"]
            return []
        except Exception as exc:
            return [f"response {response.status_code} to {request.method} {request.path}: {_describe(exc)}"]
        return []
