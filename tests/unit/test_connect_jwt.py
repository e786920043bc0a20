"""Connect JWT: the query string hash, tenant tokens, signed installs, and every forgery we refuse."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt as pyjwt
import pytest
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.connect import jwt as cj
from connect_app.sandbox.jira.auth import sign_context_token, sign_install_token, sign_tenant_token

SECRET = "tenant-one-shared-secret-0123456789abcdef"
OTHER_SECRET = "tenant-two-shared-secret-0123456789abcdef"
CLIENT = "client-key-1"
APP_BASE = "https://example.ngrok.app"
KEYS_URL = "https://connect-install-keys.example"
KID = "0f6c5a8e-7c11-4f3e-9f0a-1b2c3d4e5f60"
INSTALL_PATH = "/lifecycle/installed"


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def atlassian_keys() -> tuple[str, str]:
    return _rsa_pair()


@pytest.fixture(scope="module")
def attacker_keys() -> tuple[str, str]:
    return _rsa_pair()


class Fetcher:
    def __init__(self, pem: str) -> None:
        self.pem = pem
        self.calls: list[str] = []

    def __call__(self, kid: str) -> str:
        self.calls.append(kid)
        return self.pem


def _install(token: str, fetch: Callable[[str], str], **overrides) -> dict:
    kwargs = dict(
        method="POST",
        path=INSTALL_PATH,
        query="",
        app_base_url=APP_BASE,
        keys_url=KEYS_URL,
        fetch_key=fetch,
        cache=cj.KeyCache(),
    )
    kwargs.update(overrides)
    return cj.verify_install_token(token, **kwargs)


def _tenant(token: str, **overrides) -> dict:
    kwargs = dict(
        shared_secret=SECRET,
        client_key=CLIENT,
        method="GET",
        path="/panel/issue",
        query={"issueKey": "FEAT-304", "issueId": "10001"},
        allow_context_qsh=False,
    )
    kwargs.update(overrides)
    return cj.verify_tenant_token(token, **kwargs)


def _hs(claims: dict, secret: str = SECRET, headers: dict | None = None) -> str:
    return pyjwt.encode(claims, secret, algorithm="HS256", headers=headers)


def _claims(**extra) -> dict:
    now = int(time.time())
    base = {
        "iss": CLIENT,
        "iat": now,
        "exp": now + 180,
        "qsh": cj.query_string_hash("GET", "/panel/issue", {"issueKey": "FEAT-304", "issueId": "10001"}),
    }
    base.update(extra)
    return base


# --- query string hash -------------------------------------------------------------------------


def test_canonical_request_matches_atlassians_documented_example() -> None:
    canonical = cj.canonical_request(
        "get",
        "/path/to/service",
        "zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202",
    )
    assert canonical == "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"


@pytest.mark.parametrize(
    "url",
    [
        "/rest/api/3/issue/FEAT-304",
        "/rest/api/3/search/jql?jql=project%20%3D%20FEAT&maxResults=100",
        "/rest/api/3/issue/FEAT-304?fields=summary%2Cstatus&properties=system-reality",
        "/panel/issue?issueKey=FEAT-304&issueId=10001&projectKey=FEAT&jwt=abc.def.ghi",
        "/a/b/?x=%2A~%20+&x=a&empty=",
        "/",
    ],
)
def test_qsh_agrees_with_the_atlassian_jwt_reference_implementation(url: str) -> None:
    path, _, query = url.partition("?")
    assert cj.query_string_hash("GET", path, query) == hash_url("GET", url)


def test_canonical_rules() -> None:
    assert cj.canonical_request("post", "", None) == "POST&/&"
    assert cj.canonical_request("GET", "/a/b/", "") == "GET&/a/b&"
    assert cj.canonical_request("GET", "/a&b", "") == "GET&/a%26b&"
    assert cj.canonical_request("GET", "/p", "b=2&a=1&jwt=x") == "GET&/p&a=1&b=2"
    # Space is %20 (not +), * is %2A, ~ stays, reserved characters are encoded.
    assert cj.canonical_request("GET", "/p", {"q": "a b*~/,"}) == "GET&/p&q=a%20b%2A~%2F%2C"
    # Mapping with a list and a MultiDict-like object give the same answer as the raw string.
    assert cj.canonical_request("GET", "/p", {"r": ["2", "1"]}) == cj.canonical_request("GET", "/p", "r=1&r=2")


def test_multidict_keeps_repeated_parameters() -> None:
    from werkzeug.datastructures import MultiDict

    md = MultiDict([("r", "2"), ("r", "1"), ("jwt", "x")])
    assert cj.canonical_request("GET", "/p", md) == "GET&/p&r=1,2"


def test_relative_path_strips_a_context_path() -> None:
    assert cj.relative_path("/jira/rest/api/3/issue/X-1", "https://h.example/jira") == "/rest/api/3/issue/X-1"
    assert cj.relative_path("/rest/api/3/myself", "https://h.example") == "/rest/api/3/myself"
    assert cj.relative_path("/jiranot/x", "https://h.example/jira") == "/jiranot/x"


# --- tenant tokens -----------------------------------------------------------------------------


def test_a_genuine_iframe_token_verifies_and_returns_its_claims() -> None:
    token = sign_tenant_token(
        "GET",
        "/panel/issue",
        {"issueKey": "FEAT-304", "issueId": "10001"},
        client_key=CLIENT,
        shared_secret=SECRET,
        account_id="5b10ac8d82e05b22cc7d4ef5",
    )
    claims = _tenant(token)
    assert claims["iss"] == CLIENT
    assert claims["sub"] == "5b10ac8d82e05b22cc7d4ef5"
    assert cj.unverified_issuer(token) == CLIENT


def test_context_token_is_accepted_only_where_allowed() -> None:
    token = sign_context_token(client_key=CLIENT, shared_secret=SECRET, account_id="acc-1")
    assert _tenant(token, allow_context_qsh=True)["sub"] == "acc-1"
    with pytest.raises(cj.JwtError) as err:
        _tenant(token, allow_context_qsh=False)
    assert err.value.status == 401


def test_refuses_alg_none() -> None:
    token = pyjwt.encode(_claims(), None, algorithm="none")
    with pytest.raises(cj.JwtError) as err:
        _tenant(token)
    assert err.value.status == 401
    # A hand-made unsigned token with an empty signature fares no better.
    _, payload, _ = _hs(_claims()).split(".")
    forged_header = pyjwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    with pytest.raises(cj.JwtError):
        _tenant(f"{forged_header}.{payload}.")


def test_refuses_an_rs256_token_as_a_tenant_token(atlassian_keys: tuple[str, str]) -> None:
    private, _ = atlassian_keys
    token = pyjwt.encode(_claims(), private, algorithm="RS256")
    with pytest.raises(cj.JwtError) as err:
        _tenant(token)
    assert "algorithm" in err.value.reason


def test_refuses_a_token_signed_with_another_tenants_secret() -> None:
    with pytest.raises(cj.JwtError) as err:
        _tenant(_hs(_claims(), secret=OTHER_SECRET))
    assert "signature" in err.value.reason


def test_refuses_a_token_issued_by_another_tenant_even_with_our_secret() -> None:
    with pytest.raises(cj.JwtError):
        _tenant(_hs(_claims(iss="client-key-2")))


def test_refuses_a_token_for_another_url_or_query() -> None:
    token = _hs(_claims())
    with pytest.raises(cj.JwtError) as err:
        _tenant(token, query={"issueKey": "FEAT-305", "issueId": "10001"})
    assert "different request" in err.value.reason
    with pytest.raises(cj.JwtError):
        _tenant(token, path="/panel/context")
    with pytest.raises(cj.JwtError):
        _tenant(token, method="POST")


def test_refuses_an_expired_token_but_tolerates_small_clock_skew() -> None:
    now = int(time.time())
    with pytest.raises(cj.JwtError) as err:
        _tenant(_hs(_claims(iat=now - 600, exp=now - 120)))
    assert "expired" in err.value.reason
    assert _tenant(_hs(_claims(iat=now - 200, exp=now - 5)))["iss"] == CLIENT


@pytest.mark.parametrize("missing", ["iss", "exp", "qsh", "iat"])
def test_refuses_a_token_missing_a_required_claim(missing: str) -> None:
    claims = _claims()
    del claims[missing]
    with pytest.raises(cj.JwtError):
        _tenant(_hs(claims))


@pytest.mark.parametrize("token", [None, "", "abc", "a.b", "a.b.c", "x" * 9000, "a.b.c.d"])
def test_refuses_missing_or_malformed_tokens(token) -> None:
    with pytest.raises(cj.JwtError) as err:
        _tenant(token)
    assert err.value.status == 401
    with pytest.raises(cj.JwtError):
        cj.unverified_issuer(token)


def test_unverified_issuer_refuses_a_token_without_iss() -> None:
    claims = _claims()
    del claims["iss"]
    with pytest.raises(cj.JwtError):
        cj.unverified_issuer(_hs(claims))


# --- signed install ----------------------------------------------------------------------------


def _install_token(private: str, *, kid: str = KID, **claim_overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": CLIENT,
        "aud": [APP_BASE],
        "iat": now,
        "exp": now + 180,
        "qsh": cj.query_string_hash("POST", INSTALL_PATH, ""),
    }
    claims.update(claim_overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return pyjwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})


def test_a_genuine_signed_install_verifies(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    fetch = Fetcher(public)
    token = sign_install_token(
        "POST", INSTALL_PATH, "", client_key=CLIENT, private_key_pem=private, kid=KID, app_base_url=APP_BASE
    )
    claims = _install(token, fetch, expected_client_key=CLIENT)
    assert claims["iss"] == CLIENT
    assert fetch.calls == [KID]


def test_aud_may_be_a_plain_string(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    assert _install(_install_token(private, aud=APP_BASE), Fetcher(public))["iss"] == CLIENT


@pytest.mark.parametrize(
    "aud",
    [
        "https://evil.example",
        ["https://evil.example"],
        [APP_BASE, "https://evil.example"],
        [],
        APP_BASE + "/other",
        123,
    ],
)
def test_refuses_a_wrong_audience(atlassian_keys: tuple[str, str], aud) -> None:
    private, public = atlassian_keys
    with pytest.raises(cj.JwtError) as err:
        _install(_install_token(private, aud=aud), Fetcher(public))
    assert err.value.status == 401


def test_refuses_a_missing_audience(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    with pytest.raises(cj.JwtError):
        _install(_install_token(private, aud=None), Fetcher(public))


def test_refuses_hs_rs_confusion_with_the_public_key_as_hmac_secret(atlassian_keys: tuple[str, str]) -> None:
    _, public = atlassian_keys
    now = int(time.time())
    claims = {
        "iss": CLIENT,
        "aud": [APP_BASE],
        "iat": now,
        "exp": now + 180,
        "qsh": cj.query_string_hash("POST", INSTALL_PATH, ""),
    }
    # PyJWT itself refuses a PEM as an HMAC key, so forge the HS256 signature by hand.
    import hashlib
    import hmac
    import json

    header = pyjwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    payload = pyjwt.utils.base64url_encode(json.dumps(claims).encode())
    signing_input = header + b"." + payload
    signature = pyjwt.utils.base64url_encode(hmac.new(public.encode(), signing_input, hashlib.sha256).digest())
    token = (signing_input + b"." + signature).decode()
    fetch = Fetcher(public)
    with pytest.raises(cj.JwtError) as err:
        _install(token, fetch)
    assert "algorithm" in err.value.reason
    assert fetch.calls == []


def test_refuses_a_tenant_hs256_token_on_install(atlassian_keys: tuple[str, str]) -> None:
    _, public = atlassian_keys
    fetch = Fetcher(public)
    with pytest.raises(cj.JwtError):
        _install(_hs(_claims(aud=[APP_BASE]), headers={"kid": KID}), fetch)
    assert fetch.calls == []


def test_refuses_alg_none_on_install(atlassian_keys: tuple[str, str]) -> None:
    _, public = atlassian_keys
    fetch = Fetcher(public)
    token = pyjwt.encode({"iss": CLIENT, "aud": [APP_BASE]}, None, algorithm="none", headers={"kid": KID})
    with pytest.raises(cj.JwtError):
        _install(token, fetch)
    assert fetch.calls == []


@pytest.mark.parametrize("kid", ["../x", "a/b", "%2e%2e", "a" * 129, "", "kid?x=1", "a b", "a\\b", "é"])
def test_bad_kid_is_refused_without_fetching(atlassian_keys: tuple[str, str], kid: str) -> None:
    private, public = atlassian_keys
    fetch = Fetcher(public)
    with pytest.raises(cj.JwtError) as err:
        _install(_install_token(private, kid=kid), fetch)
    assert err.value.status == 401
    assert fetch.calls == []


def test_missing_kid_is_refused_without_fetching(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    now = int(time.time())
    token = pyjwt.encode({"iss": CLIENT, "aud": [APP_BASE], "iat": now, "exp": now + 60}, private, "RS256")
    fetch = Fetcher(public)
    with pytest.raises(cj.JwtError):
        _install(token, fetch)
    assert fetch.calls == []


def test_refuses_a_token_signed_with_the_wrong_key(
    atlassian_keys: tuple[str, str], attacker_keys: tuple[str, str]
) -> None:
    _, public = atlassian_keys
    attacker_private, _ = attacker_keys
    with pytest.raises(cj.JwtError) as err:
        _install(_install_token(attacker_private), Fetcher(public))
    assert "signature" in err.value.reason


def test_refuses_a_key_that_is_not_an_rsa_public_key(atlassian_keys: tuple[str, str]) -> None:
    private, _ = atlassian_keys
    with pytest.raises(cj.JwtError):
        _install(_install_token(private), Fetcher("not a pem"))


def test_refuses_install_with_wrong_qsh_or_context_qsh(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    with pytest.raises(cj.JwtError):
        _install(_install_token(private), Fetcher(public), path="/lifecycle/uninstalled")
    with pytest.raises(cj.JwtError):
        _install(_install_token(private, qsh=cj.CONTEXT_QSH), Fetcher(public))


def test_refuses_expired_install_token(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    now = int(time.time())
    with pytest.raises(cj.JwtError) as err:
        _install(_install_token(private, iat=now - 900, exp=now - 300), Fetcher(public))
    assert "expired" in err.value.reason


def test_refuses_install_from_another_client_key(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    with pytest.raises(cj.JwtError):
        _install(_install_token(private), Fetcher(public), expected_client_key="someone-else")


def test_install_keys_are_cached_by_kid(atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    fetch = Fetcher(public)
    cache = cj.KeyCache()
    _install(_install_token(private), fetch, cache=cache)
    _install(_install_token(private), fetch, cache=cache)
    assert fetch.calls == [KID]


def test_key_cache_expires_and_is_bounded() -> None:
    clock = [0.0]
    cache = cj.KeyCache(ttl=10, max_entries=2, clock=lambda: clock[0])
    cache.put("a", "A")
    cache.put("b", "B")
    cache.put("c", "C")
    assert cache.get("a") is None and cache.get("b") == "B" and cache.get("c") == "C"
    clock[0] = 11
    assert cache.get("b") is None


def test_default_fetch_gets_the_pem_by_kid(monkeypatch: pytest.MonkeyPatch, atlassian_keys: tuple[str, str]) -> None:
    private, public = atlassian_keys
    requested: list[str] = []

    class Response:
        status_code = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def iter_content(self, size: int):
            yield public.encode()

    def fake_get(url: str, **kwargs):
        requested.append(url)
        assert kwargs["timeout"] and kwargs["allow_redirects"] is False
        return Response()

    monkeypatch.setattr(cj.requests, "get", fake_get)
    claims = cj.verify_install_token(
        _install_token(private),
        method="POST",
        path=INSTALL_PATH,
        query="",
        app_base_url=APP_BASE,
        keys_url=KEYS_URL + "/",
        cache=None,
    )
    assert claims["iss"] == CLIENT
    assert requested == [f"{KEYS_URL}/{KID}"]


# --- outbound signing --------------------------------------------------------------------------


def test_sign_request_binds_the_token_to_the_relative_path_and_query() -> None:
    token = cj.sign_request(
        "GET",
        "https://acme.atlassian.net/rest/api/3/search/jql?jql=drift%20%3D%20reverted&maxResults=100",
        app_key="system-reality-for-jira",
        shared_secret=SECRET,
        base_url="https://acme.atlassian.net/",
    )
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["iss"] == "system-reality-for-jira"
    assert claims["exp"] - claims["iat"] == 180
    assert claims["qsh"] == hash_url("GET", "/rest/api/3/search/jql?jql=drift%20%3D%20reverted&maxResults=100")


def test_sign_request_with_a_context_path_hashes_the_path_below_it() -> None:
    token = cj.sign_request(
        "PUT",
        "https://h.example/jira/rest/api/3/issue/X-1",
        app_key="k",
        shared_secret=SECRET,
        base_url="https://h.example/jira",
    )
    assert pyjwt.decode(token, SECRET, algorithms=["HS256"])["qsh"] == cj.query_string_hash(
        "PUT", "/rest/api/3/issue/X-1", ""
    )


def test_sign_request_refuses_a_foreign_host() -> None:
    with pytest.raises(ValueError):
        cj.sign_request(
            "GET",
            "https://evil.example/rest/api/3/myself",
            app_key="k",
            shared_secret=SECRET,
            base_url="https://acme.atlassian.net",
        )
