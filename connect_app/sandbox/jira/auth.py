"""How the simulated Jira signs what it sends and checks what apps send it.

- Signed installs: RS256, header `kid`; the public key is served by the simulator's separate
  install-keys server at `{keys_url}/{kid}` as PEM, like connect-install-keys.atlassian.com.
  Claims: `iss` = clientKey, `aud` = [the app's baseUrl], `qsh` of the lifecycle request,
  `sub` = the installing admin, `context` = {}, `iat`, `exp` (3 minutes).
- Everything else Jira sends an app (enabled/disabled, webhooks, iframes) is HS256 with the
  tenant's shared secret and `iss` = clientKey.
- Apps calling the REST API sign HS256 with the shared secret, `iss` = app key, `qsh` of the
  request relative to the site's baseUrl.

`sign_tenant_token`, `sign_context_token` and `sign_install_token` sign as Jira would for tests
that talk to the app directly, with the app's own canonical-request rules
(`connect_app.connect.jwt`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.connect.jwt import CONTEXT_QSH, QueryInput, normalise_base_url, query_string_hash

INSTALL_TOKEN_LIFETIME = 180
HS256_TOKEN_LIFETIME = 180
TAMPER_MODES = frozenset(
    {"unsigned", "wrong-key", "wrong-aud", "expired", "bad-qsh", "bad-kid", "hs256-with-public-key"}
)


@dataclass
class RsaKey:
    """An RSA key pair and its key id."""

    kid: str
    private_pem: bytes
    public_pem: bytes

    @classmethod
    def generate(cls) -> RsaKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(
            kid=str(uuid.uuid4()),
            private_pem=private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            public_pem=private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )

    @classmethod
    def for_simulator(cls, role: str) -> RsaKey:
        """A key for one of a simulated site's roles ("install", "rogue", "tenant"). Making a
        2048-bit key takes a third of a second and every end-to-end test starts a site, so each
        role's key pair is made once per process; the kid is new for every site, so no app's key
        cache (keyed by kid) carries a key from one site to the next. Roles never share a key, so
        a "wrong-key" forgery stays wrong."""
        private_pem, public_pem = _role_key_pair(role)
        return cls(kid=str(uuid.uuid4()), private_pem=private_pem, public_pem=public_pem)

    def public_key_base64_der(self) -> str:
        """The `publicKey` field of the install payload (base64 DER, no PEM armour)."""
        body = b"".join(line for line in self.public_pem.splitlines() if not line.startswith(b"-----"))
        return body.decode()


@functools.cache
def _role_key_pair(role: str) -> tuple[bytes, bytes]:
    key = RsaKey.generate()
    return key.private_pem, key.public_pem


@functools.cache
def _private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The loaded key, once per key: loading checks the key pair, a tenth of a second each time."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def qsh_for(method: str, url: str, base_url: str) -> str:
    """The qsh of `method url`, with the path taken relative to `base_url`'s path."""
    parts = urlsplit(url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :] or "/"
    return hash_url(method, path + (f"?{parts.query}" if parts.query else ""))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_install(
    *,
    key: RsaKey,
    other_key: RsaKey,
    client_key: str,
    audience: str,
    method: str,
    url: str,
    subject: str | None,
    tamper: str | None = None,
) -> str:
    """The RS256 token Jira puts on an installed/uninstalled callback, or a forged one."""
    if tamper is not None and tamper not in TAMPER_MODES:
        raise ValueError(f"unknown tamper mode {tamper!r}; choose from {sorted(TAMPER_MODES)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_key,
        "aud": [audience],
        "qsh": qsh_for(method, url, audience),
        "iat": now,
        "exp": now + INSTALL_TOKEN_LIFETIME,
        "context": {},
    }
    if subject:
        claims["sub"] = subject
    headers = {"kid": key.kid, "typ": "JWT"}
    signing_key = _private_key(key.private_pem)
    if tamper == "wrong-aud":
        claims["aud"] = ["https://evil.example.com"]
    elif tamper == "expired":
        claims["iat"] = now - 3600
        claims["exp"] = now - 3600 + INSTALL_TOKEN_LIFETIME
    elif tamper == "bad-qsh":
        claims["qsh"] = hash_url("POST", "/somewhere-else")
    elif tamper == "bad-kid":
        headers["kid"] = "../../evil"
    elif tamper == "wrong-key":
        signing_key = _private_key(other_key.private_pem)
    elif tamper == "unsigned":
        return jwt.encode(claims, None, algorithm="none", headers=headers)
    elif tamper == "hs256-with-public-key":
        # The classic algorithm-confusion forgery: HMAC keyed with the PEM public key.
        # PyJWT refuses to build it, so it is assembled by hand.
        header = _b64(json.dumps({"alg": "HS256", **headers}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(key.public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"
    return jwt.encode(claims, signing_key, algorithm="RS256", headers=headers)


def sign_hs256(
    *,
    secret: str,
    issuer: str,
    qsh: str,
    subject: str | None = None,
    context: dict[str, Any] | None = None,
    lifetime: int = HS256_TOKEN_LIFETIME,
    audience: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "qsh": qsh, "iat": now, "exp": now + lifetime}
    if subject is not None:
        claims["sub"] = subject
    if context is not None:
        claims["context"] = context
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


class AuthFailure(Exception):
    """An app request Jira answers 401."""


def verify_app_request(
    *,
    authorization: str | None,
    query_jwt: str | None,
    method: str,
    path_and_query: str,
    secrets: dict[str, str],
) -> dict[str, Any]:
    """The verified claims of an app's REST call; raises AuthFailure with the reason."""
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme != "JWT" or not value:
            raise AuthFailure(f"Authorization scheme {scheme!r} is not accepted from a Connect app; use 'JWT <token>'.")
        token = value.strip()
    elif query_jwt:
        token = query_jwt
    if not token:
        raise AuthFailure("Client must be authenticated to access this resource.")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthFailure(f"Malformed JWT: {exc}") from None
    if header.get("alg") != "HS256":
        raise AuthFailure(f"JWT algorithm {header.get('alg')!r} is not accepted; Connect apps sign with HS256.")
    issuer = unverified.get("iss")
    secret = secrets.get(str(issuer))
    if secret is None:
        raise AuthFailure(f"JWT issuer {issuer!r} is not an installed app.")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["iss", "iat", "exp", "qsh"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthFailure(f"JWT rejected: {exc}") from None
    expected = hash_url(method, path_and_query)
    if claims.get("qsh") != expected:
        raise AuthFailure(f"JWT qsh does not match the request (expected {expected} for {method} {path_and_query}).")
    return claims


# ---- tokens as Jira signs them, by the app's canonical-request rules --------------------------


def sign_tenant_token(
    method: str,
    path: str,
    query: QueryInput,
    *,
    client_key: str,
    shared_secret: str,
    account_id: str | None = None,
    context: Mapping[str, Any] | None = None,
    expires_in: int = 180,
    now: int | None = None,
) -> str:
    """A URL-bound HS256 token as Jira signs it for an iframe or webhook (for the sandbox and tests)."""
    qsh = query_string_hash(method, path, query)
    return _tenant_token(qsh, client_key, shared_secret, account_id, context, expires_in, now)


def sign_context_token(
    *,
    client_key: str,
    shared_secret: str,
    account_id: str | None = None,
    context: Mapping[str, Any] | None = None,
    expires_in: int = 900,
    now: int | None = None,
) -> str:
    """A context token (`qsh: context-qsh`) as `AP.context.getToken()` returns it."""
    return _tenant_token(CONTEXT_QSH, client_key, shared_secret, account_id, context, expires_in, now)


def _tenant_token(
    qsh: str,
    client_key: str,
    shared_secret: str,
    account_id: str | None,
    context: Mapping[str, Any] | None,
    expires_in: int,
    now: int | None,
) -> str:
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": client_key,
        "iat": issued,
        "exp": issued + expires_in,
        "qsh": qsh,
        "context": dict(context or {}),
    }
    if account_id is not None:
        claims["sub"] = account_id
    return jwt.encode(claims, shared_secret, algorithm="HS256")


def sign_install_token(
    method: str,
    path: str,
    query: QueryInput,
    *,
    client_key: str,
    private_key_pem: str | bytes,
    kid: str,
    app_base_url: str,
    expires_in: int = 180,
    now: int | None = None,
) -> str:
    """A signed-install RS256 token as Jira sends on installed/uninstalled (for the sandbox and tests)."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": client_key,
        "aud": [normalise_base_url(app_base_url)],
        "iat": issued,
        "exp": issued + expires_in,
        "qsh": query_string_hash(method, path, query),
        "context": {},
    }
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"kid": kid})
