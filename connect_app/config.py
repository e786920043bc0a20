"""Settings from the environment, checked once at start.

Every variable is documented in the README; INTERFACES.md section 1 is the contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connect_app.connect.urls import OriginPattern, parse_patterns

DEFAULT_JIRA_PATTERNS = "https://*.atlassian.net,https://*.jira.com,https://*.jira-dev.com"
DEFAULT_GITHUB_PATTERNS = "https://*"
DEFAULT_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_RAW_PAYLOAD_RETENTION_DAYS = 30
DEFAULT_UNINSTALLED_PURGE_DAYS = 30
MIN_SECRET_LENGTH = 32


class ConfigError(ValueError):
    """The environment cannot run the app safely; the message says which variable to fix."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    app_base_url: str
    install_keys_url: str
    allowed_jira_base_urls: tuple[OriginPattern, ...]
    allowed_github_api_urls: tuple[OriginPattern, ...]
    secret_key: str
    instance_path: Path
    # Production environment names a connection treats as "production" unless its own list says otherwise.
    production_environments: tuple[str, ...] = ("production", "prod", "live")
    # A GitHub App used for connections saved without a token (installation tokens through PyGithub).
    github_app_id: str | None = None
    github_app_private_key: str | None = None
    # Where the app's credentials may be used: its API host, the GitHub owners whose installations
    # this deployment may read, and the Jira sites allowed to read through it. The app's JWT and
    # installation tokens reach nothing a tenant chose, and one tenant never reads another's org.
    github_app_api_urls: tuple[OriginPattern, ...] = ()
    github_app_owners: frozenset[str] = frozenset()
    github_app_jira_sites: tuple[OriginPattern, ...] = ()
    # Retention: raw webhook bodies of deliveries already processed (or ignored, or failed) are
    # dropped this many days after they arrived; the facts read from them stay. 0 = at the next
    # housekeeping run.
    raw_payload_retention_days: int = DEFAULT_RAW_PAYLOAD_RETENTION_DAYS
    # The history of an uninstalled site is deleted this many days after the uninstall; a
    # re-install within that time keeps it. 0 = at the next housekeeping run.
    uninstalled_purge_days: int = DEFAULT_UNINSTALLED_PURGE_DAYS
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_https(self) -> bool:
        return self.app_base_url.lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _patterns(name: str, value: str) -> tuple[OriginPattern, ...]:
    try:
        return tuple(parse_patterns(value))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def _dev_secret(instance_path: Path) -> str:
    """A per-machine secret for plain-http development, so nothing is stored under a known key."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / "dev-secret-key"
    if not path.exists():
        import secrets

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    instance_path = Path(env.get("INSTANCE_PATH", "instance")).resolve()
    base_url = env.get("APP_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("APP_BASE_URL must be an http(s) URL, for example https://reality.example.com")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'system-reality.db'}"
    secret = env.get("APP_SECRET_KEY", "")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"APP_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters long")
    if not secret:
        if base_url.startswith("https://"):
            raise ConfigError(
                "APP_SECRET_KEY is required when APP_BASE_URL is https: it protects stored secrets"
            )
        secret = _dev_secret(instance_path)
    app_id, app_key = _github_app(env)
    return Settings(
        database_url=database_url,
        app_base_url=base_url,
        install_keys_url=env.get("CONNECT_INSTALL_KEYS_URL", DEFAULT_INSTALL_KEYS_URL).rstrip("/"),
        allowed_jira_base_urls=_patterns("ALLOWED_JIRA_BASE_URLS",
                                         env.get("ALLOWED_JIRA_BASE_URLS", DEFAULT_JIRA_PATTERNS)),
        allowed_github_api_urls=_patterns("ALLOWED_GITHUB_API_URLS",
                                          env.get("ALLOWED_GITHUB_API_URLS", DEFAULT_GITHUB_PATTERNS)),
        secret_key=secret,
        instance_path=instance_path,
        github_app_id=app_id,
        github_app_private_key=app_key,
        raw_payload_retention_days=_days(env, "RAW_PAYLOAD_RETENTION_DAYS", DEFAULT_RAW_PAYLOAD_RETENTION_DAYS),
        uninstalled_purge_days=_days(env, "UNINSTALLED_PURGE_DAYS", DEFAULT_UNINSTALLED_PURGE_DAYS),
        **_github_app_scope(env, enabled=app_id is not None),
    )


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of days, for example {default}") from None
    if not 0 <= days <= 36500:
        raise ConfigError(f"{name} must be between 0 and 36500 days")
    return days


def _github_app_scope(env: Mapping[str, str], *, enabled: bool) -> dict[str, object]:
    if not enabled:
        return {}
    owners = frozenset(o.strip().lower() for o in env.get("GITHUB_APP_OWNERS", "").split(",") if o.strip())
    sites = env.get("GITHUB_APP_JIRA_SITES", "").strip()
    if not owners or not sites:
        raise ConfigError("with GITHUB_APP_ID, set GITHUB_APP_OWNERS (the GitHub organisations or users whose "
                          "installations may be read) and GITHUB_APP_JIRA_SITES (the Jira sites allowed to use "
                          "the app)")
    return {
        "github_app_api_urls": _patterns("GITHUB_APP_API_URL", env.get("GITHUB_APP_API_URL", "https://api.github.com")),
        "github_app_owners": owners,
        "github_app_jira_sites": _patterns("GITHUB_APP_JIRA_SITES", sites),
    }


def _github_app(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    app_id = env.get("GITHUB_APP_ID", "").strip() or None
    # One-line environments (systemd, .env files) carry the PEM with literal \n escapes.
    key = env.get("GITHUB_APP_PRIVATE_KEY", "").strip().replace("\\n", "\n") or None
    if (app_id is None) != (key is None):
        raise ConfigError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY are set together or not at all")
    if key is not None and "PRIVATE KEY-----" not in key:
        raise ConfigError("GITHUB_APP_PRIVATE_KEY must be the GitHub App's PEM private key")
    return app_id, key
