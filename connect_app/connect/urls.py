"""Allow-lists of origins the app may talk to (ALLOWED_JIRA_BASE_URLS, ALLOWED_GITHUB_API_URLS).

A pattern is an origin, `scheme://host[:port]`, in which `*` stands for a non-empty run of
characters other than `/`, `:` and `@`. A URL is allowed when its normalised origin (lower case,
default port dropped) matches one pattern in full. Only the origin is compared: the path of a
GitHub Enterprise `api_url` (`/api/v3`) or a Jira context path plays no part. URLs that carry
user info, a query or a fragment are refused outright, since they are the usual vehicles for
making one host look like another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host we are willing to compare: DNS labels, or a bracketed IPv6 literal. Anything else
# (backslashes, percent-escapes, spaces, empty labels) is refused rather than interpreted.
_HOST = re.compile(r"^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$")
_PATTERN_HOST = re.compile(r"^[a-z0-9_.*\[\]:-]+$")
# Characters that browsers and HTTP libraries disagree about; never part of an origin we accept.
_FORBIDDEN = re.compile(r"[\s\\\x00-\x1f\x7f]")
# What `*` stands for: a non-empty run that cannot cross into the path, the port or user info.
_WILDCARD = "[^/:@]+"


@dataclass(frozen=True)
class OriginPattern:
    """One parsed allow-list entry; `text` is the normalised pattern as configured."""

    text: str
    regex: re.Pattern[str]

    def matches(self, origin: str) -> bool:
        return self.regex.fullmatch(origin) is not None


def normalise_origin(url: str) -> str:
    """The origin of `url` as `scheme://host[:port]`, lower case, default port dropped.

    Raises ValueError for anything that is not a plain http(s) URL: user info, query,
    fragment, odd characters, a malformed port or host.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise ValueError("not a URL")
    if _FORBIDDEN.search(url):
        raise ValueError("URL contains whitespace, control characters or backslashes")
    if "?" in url or "#" in url:
        raise ValueError("URL has a query or a fragment")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("URL scheme must be http or https")
    if "@" in parts.netloc:
        raise ValueError("URL has user info")
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if not host or not _HOST.match(host):
        raise ValueError("URL host is not a valid host name")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("URL port is not valid") from exc
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _compile(pattern: str) -> OriginPattern:
    text = pattern.strip().lower()
    if text.endswith("/"):
        text = text[:-1]
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ValueError(f"allow-list pattern {pattern!r} must start with http:// or https://")
    if not rest or "/" in rest or "@" in rest or not _PATTERN_HOST.match(rest):
        raise ValueError(f"allow-list pattern {pattern!r} must be an origin: scheme://host[:port]")
    host, colon, port = rest.rpartition(":")
    if colon and not host.endswith(":") and port.isdigit() and int(port) == _DEFAULT_PORTS[scheme]:
        rest = host  # an explicit default port names the same origin as no port
    regex = re.escape(f"{scheme}://") + _WILDCARD.join(re.escape(piece) for piece in rest.split("*"))
    return OriginPattern(text=f"{scheme}://{rest}", regex=re.compile(regex))


def parse_patterns(csv: str) -> list[OriginPattern]:
    """Parse a comma-separated allow-list. Empty entries are ignored; a bad one raises ValueError."""
    return [_compile(item) for item in csv.split(",") if item.strip()]


# A Jira base URL's path: nothing, or plain segments such as a context path (`/jira`); a
# segment never starts with a dot, so `.` and `..` are out.
_PLAIN_PATH = re.compile(r"^(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?$")


def base_url_allowed(url: str, patterns: list[OriginPattern]) -> bool:
    """True when `url` is an allowed origin with at most a plain path: no `.` or `..` segment,
    no escapes, nothing a client would resolve to another place than it reads."""
    if not url_allowed(url, patterns):
        return False
    return _PLAIN_PATH.match(urlsplit(url).path) is not None


def url_allowed(url: str, patterns: list[OriginPattern]) -> bool:
    """True when `url` is a plain http(s) URL whose origin matches one of `patterns`."""
    try:
        origin = normalise_origin(url)
    except ValueError:
        return False
    return any(pattern.matches(origin) for pattern in patterns)
