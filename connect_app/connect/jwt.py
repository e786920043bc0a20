"""Atlassian Connect JWT, both ways.

Inbound:
- `verify_tenant_token`: the HS256 tokens Jira signs with a tenant's shared secret (iframes,
  webhooks, enabled/disabled lifecycle, context tokens from `AP.context.getToken()`).
- `verify_install_token`: the RS256 tokens of signed installs (installed/uninstalled), whose
  public key is fetched by `kid` from the Connect install-keys CDN.

Outbound:
- `sign_request`: the HS256 token the app puts on its own REST calls to Jira.

Jira's side of the signing (the tokens Jira puts on iframes, webhooks and signed installs) is
the sandbox's: `connect_app.sandbox.jira.auth`.

Each verifier pins its algorithm before a key is ever chosen, so neither an `alg: none` token
nor an HS256 token "signed" with the public RSA key (HS/RS confusion) gets through. The
`atlassian_jwt` package is not used for verification: its Authenticator rejects context-qsh
tokens and knows nothing of RS256.

Query string hash (qsh), per Atlassian's "Understanding JWT for Connect apps":
canonical request = METHOD & canonical-URI & canonical-query, where the URI is relative to the
app's (or tenant's) base path, starts with `/`, has no trailing `/` and its `&` encoded as `%26`;
the query leaves out `jwt`, sorts parameters by encoded name, joins repeated values with `,`
(sorted) and percent-encodes names and values as RFC 3986 unreserved-only (space `%20`,
`*` `%2A`, `~` kept).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

CONTEXT_QSH = "context-qsh"
DEFAULT_LEEWAY = 30  # seconds of clock skew tolerated on exp / iat
MAX_TOKEN_LENGTH = 8192
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MAX_KEY_BYTES = 16 * 1024
_KEY_FETCH_TIMEOUT = (3.05, 10)

QueryInput = Mapping[str, Any] | str | None


class JwtError(Exception):
    """A token was refused. `status` is the HTTP status to answer with, `reason` is safe to show."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# ---------------------------------------------------------------------------------------------
# Query string hash


def _encode(value: str) -> str:
    # RFC 3986 unreserved characters stay, everything else is %XX of its UTF-8 bytes.
    return quote(value, safe="~")


def _query_items(query: QueryInput) -> list[tuple[str, list[str]]]:
    if query is None:
        return []
    grouped: dict[str, list[str]] = {}
    if isinstance(query, str):
        for name, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
            grouped.setdefault(name, []).append(value)
    elif hasattr(query, "lists"):
        # werkzeug MultiDict: `.items()` would silently drop repeated parameters.
        for name, values in query.lists():
            grouped.setdefault(name, []).extend(str(v) for v in values)
    else:
        for name, value in query.items():
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                grouped.setdefault(name, []).append(str(value))
            else:
                grouped.setdefault(name, []).extend(str(v) for v in value)
    return list(grouped.items())


def canonical_uri(path: str) -> str:
    path = path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    # An `&` in the path would otherwise let the path and the query trade characters.
    return path.replace("&", "%26")


def canonical_request(method: str, path: str, query: QueryInput) -> str:
    """The Atlassian canonical request: `METHOD&/relative/path&sorted=encoded&params=a,b`."""
    params = []
    for name, values in _query_items(query):
        if name == "jwt":
            continue
        # Values are sorted before encoding, as Atlassian's own implementations do (JWT-20).
        params.append((_encode(name), ",".join(_encode(v) for v in sorted(values))))
    params.sort()
    canonical_query = "&".join(f"{name}={value}" for name, value in params)
    return f"{method.upper()}&{canonical_uri(path)}&{canonical_query}"


def query_string_hash(method: str, path: str, query: QueryInput) -> str:
    """The `qsh` claim for a request. `path` must already be relative to the base URL's path."""
    return hashlib.sha256(canonical_request(method, path, query).encode("utf-8")).hexdigest()


def relative_path(path: str, base_url: str) -> str:
    """`path` with the base URL's path (a context path such as `/jira`) taken off the front."""
    base_path = urlsplit(base_url).path.rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :]
    return path or "/"


def normalise_base_url(url: str) -> str:
    """The one spelling of a base URL the app uses everywhere (descriptor, `aud`, signing)."""
    return url.rstrip("/")


# ---------------------------------------------------------------------------------------------
# Inbound: shared helpers


def _split_checked(token: object) -> str:
    if not isinstance(token, str) or not token:
        raise JwtError("Missing authentication token.")
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise JwtError("Malformed authentication token.")
    return token


def _header(token: str) -> dict[str, Any]:
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError as exc:
        raise JwtError("Malformed authentication token.") from exc
    return header


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a well-formed token, NOT verified: only for choosing which key to verify with."""
    token = _split_checked(token)
    _header(token)
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError as exc:
        raise JwtError("Malformed authentication token.") from exc
    if not isinstance(claims, dict):
        raise JwtError("Malformed authentication token.")
    return claims


def unverified_issuer(token: str) -> str:
    """The `iss` (the tenant's clientKey) of a token, read without verifying it."""
    iss = unverified_claims(token).get("iss")
    if not isinstance(iss, str) or not iss or len(iss) > 255:
        raise JwtError("Authentication token names no issuer.")
    return iss


_NUMERIC_CLAIMS = ("exp", "iat", "nbf")
_STRING_CLAIMS = ("iss", "sub", "qsh")


def _check_claim_types(claims: Mapping[str, Any]) -> None:
    """Every claim we rely on has the type RFC 7519 gives it. PyJWT reads `exp` with `int()`,
    so a signed `"exp": "9999999999"` would otherwise pass as a far-off expiry."""
    for name in _NUMERIC_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)
                               or not math.isfinite(value)):
            raise JwtError(f"Authentication token's '{name}' claim must be a number.")
    for name in _STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise JwtError(f"Authentication token's '{name}' claim must be a string.")
    aud = claims.get("aud")
    if "aud" in claims and not (isinstance(aud, str)
                                or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))):
        raise JwtError("Authentication token's 'aud' claim must be a string.")


def _decode(token: str, key: Any, algorithm: str, leeway: float, required: list[str]) -> dict[str, Any]:
    try:
        claims = pyjwt.decode(
            token,
            key,
            algorithms=[algorithm],
            leeway=leeway,
            # `aud` is checked by hand where it matters (signed install); tenant tokens are bound
            # to one app and tenant by their secret already.
            options={"require": required, "verify_aud": False},
        )
    except OverflowError as exc:  # a signed `"exp": 1e400` reaches int() as infinity
        raise JwtError("Authentication token is not valid.") from exc
    except pyjwt.ExpiredSignatureError as exc:
        raise JwtError("Authentication token has expired; reload the page.") from exc
    except pyjwt.ImmatureSignatureError as exc:
        raise JwtError("Authentication token is not valid yet.") from exc
    except pyjwt.MissingRequiredClaimError as exc:
        raise JwtError(f"Authentication token lacks the '{exc.claim}' claim.") from exc
    except pyjwt.InvalidSignatureError as exc:
        raise JwtError("Authentication token signature does not verify.") from exc
    except pyjwt.PyJWTError as exc:
        raise JwtError("Authentication token is not valid.") from exc
    _check_claim_types(claims)
    return claims


def _check_qsh(claims: Mapping[str, Any], expected: str, allow_context_qsh: bool) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str):
        raise JwtError("Authentication token lacks the 'qsh' claim.")
    if qsh == CONTEXT_QSH:
        if allow_context_qsh:
            return
        raise JwtError("This authentication token is not valid for this URL.")
    # As bytes: compare_digest raises on a str with non-ASCII characters, which a claim can hold.
    if not hmac.compare_digest(qsh.encode("utf-8", "surrogatepass"), expected.encode()):
        raise JwtError("Authentication token was issued for a different request.")


# ---------------------------------------------------------------------------------------------
# Inbound: tenant (HS256) tokens


def verify_tenant_token(
    token: str,
    *,
    shared_secret: str,
    client_key: str,
    method: str,
    path: str,
    query: QueryInput,
    allow_context_qsh: bool,
    leeway: float = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """Verify an HS256 token from the tenant `client_key`; return its claims (`sub`, `context`...).

    `path` is relative to the app's base path. With `allow_context_qsh`, a context token
    (`qsh: "context-qsh"`, not bound to a URL) is accepted as well as a URL-bound one.
    """
    token = _split_checked(token)
    if _header(token).get("alg") != "HS256":
        raise JwtError("Authentication token uses an algorithm this app does not accept.")
    if not shared_secret:
        raise JwtError("This Jira site is not installed.")
    claims = _decode(token, shared_secret, "HS256", leeway, ["iss", "exp", "iat", "qsh"])
    if claims.get("iss") != client_key:
        raise JwtError("Authentication token was issued by another Jira site.")
    _check_qsh(claims, query_string_hash(method, path, query), allow_context_qsh)
    return claims


# ---------------------------------------------------------------------------------------------
# Inbound: signed install (RS256) tokens


class KeyCache:
    """Public keys of signed installs by `kid`: bounded, with a time to live, thread-safe."""

    def __init__(self, ttl: float = 3600.0, max_entries: int = 64, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kid: str) -> str | None:
        with self._lock:
            entry = self._entries.get(kid)
            if entry is None:
                return None
            stored_at, pem = entry
            if self._clock() - stored_at > self._ttl:
                del self._entries[kid]
                return None
            self._entries.move_to_end(kid)
            return pem

    def put(self, kid: str, pem: str) -> None:
        with self._lock:
            self._entries[kid] = (self._clock(), pem)
            self._entries.move_to_end(kid)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


DEFAULT_KEY_CACHE = KeyCache()


def fetch_install_key(keys_url: str, kid: str) -> str:
    """Fetch the PEM public key `{keys_url}/{kid}`; `kid` must already be validated."""
    url = f"{keys_url.rstrip('/')}/{quote(kid, safe='')}"
    try:
        with requests.get(url, timeout=_KEY_FETCH_TIMEOUT, stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise JwtError("The install signing key could not be found.")
            body = b""
            for chunk in resp.iter_content(4096):
                body += chunk
                if len(body) > _MAX_KEY_BYTES:
                    raise JwtError("The install signing key could not be read.")
    except requests.RequestException as exc:
        raise JwtError("The install signing key could not be fetched.") from exc
    return body.decode("utf-8", errors="replace").strip()


def _load_rsa_key(pem: str) -> RSAPublicKey:
    try:
        key = load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise JwtError("The install signing key could not be read.") from exc
    if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
        raise JwtError("The install signing key is not an RSA key.")
    return key


def _check_audience(claims: Mapping[str, Any], app_base_url: str) -> None:
    # Atlassian sets `aud` to the descriptor's baseUrl; we serve that as normalise_base_url().
    # It may arrive as a string or a one-element list; nothing else is accepted.
    expected = normalise_base_url(app_base_url)
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or aud != expected:
        raise JwtError("Install token was issued for another app.")


def verify_install_token(
    token: str,
    *,
    method: str,
    path: str,
    query: QueryInput,
    app_base_url: str,
    keys_url: str,
    fetch_key: Callable[[str], str] | None = None,
    cache: KeyCache | None = DEFAULT_KEY_CACHE,
    expected_client_key: str | None = None,
    leeway: float = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """Verify a signed-install RS256 token; return its claims (`iss` is the tenant's clientKey).

    `fetch_key(kid) -> PEM` defaults to an HTTP GET of `{keys_url}/{kid}`. A `kid` that is not a
    plain token of letters, digits, `-` and `_` is refused before anything is fetched. When
    `expected_client_key` is given (the body's clientKey), `iss` must equal it.
    """
    token = _split_checked(token)
    header = _header(token)
    if header.get("alg") != "RS256":
        raise JwtError("Install token uses an algorithm this app does not accept.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise JwtError("Install token names no valid signing key.")
    pem = cache.get(kid) if cache is not None else None
    if pem is None:
        pem = fetch_key(kid) if fetch_key is not None else fetch_install_key(keys_url, kid)
        key = _load_rsa_key(pem)
        if cache is not None:
            cache.put(kid, pem)
    else:
        key = _load_rsa_key(pem)
    claims = _decode(token, key, "RS256", leeway, ["iss", "exp", "iat", "qsh", "aud"])
    _check_audience(claims, app_base_url)
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise JwtError("Install token names no Jira site.")
    if expected_client_key is not None and iss != expected_client_key:
        raise JwtError("Install token was issued by another Jira site.")
    _check_qsh(claims, query_string_hash(method, path, query), allow_context_qsh=False)
    return claims


# ---------------------------------------------------------------------------------------------
# Outbound signing


def _now() -> int:
    return int(time.time())


def sign_request(
    method: str,
    url: str,
    *,
    app_key: str,
    shared_secret: str,
    base_url: str,
    expires_in: int = 180,
    now: int | None = None,
) -> str:
    """The JWT for the app's own call `method url` to the tenant at `base_url`.

    The qsh covers the path relative to the tenant's base path and the URL's query string, so
    `url` must be the final, encoded URL the request goes to.
    """
    parts = urlsplit(url)
    base = urlsplit(normalise_base_url(base_url))
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        raise ValueError("refusing to sign a request for a host other than the tenant's")
    issued = _now() if now is None else now
    claims = {
        "iss": app_key,
        "iat": issued,
        "exp": issued + expires_in,
        "qsh": query_string_hash(method, relative_path(parts.path, base_url), parts.query),
    }
    return pyjwt.encode(claims, shared_secret, algorithm="HS256")
