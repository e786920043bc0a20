"""Per-project write-back policy, as set on the admin page or with PUT /api/settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POLICIES = ("observe", "comment", "reopen")
DEFAULT_POLICY = "comment"


@dataclass(frozen=True)
class ProjectPolicy:
    mode: str = DEFAULT_POLICY  # observe: property only; comment: + label and comment; reopen: + transition
    reopen_to: str | None = None  # target status name or transition name; None = first not-Done target
    done_statuses: tuple[str, ...] = ()  # statuses that count as Done here; empty = Jira's Done category

    @property
    def labels(self) -> bool:
        return self.mode != "observe"

    @property
    def comments(self) -> bool:
        return self.mode != "observe"

    @property
    def reopens(self) -> bool:
        return self.mode == "reopen"


def project_policy(settings: Mapping[str, Any], project_key: str) -> ProjectPolicy:
    projects = settings.get("projects") or {}
    own = projects.get(project_key) if isinstance(projects, Mapping) else None
    default_mode = settings.get("default_policy") or DEFAULT_POLICY
    if not isinstance(own, Mapping):
        return ProjectPolicy(mode=default_mode)
    return ProjectPolicy(mode=own.get("policy") or default_mode, reopen_to=own.get("reopen_to") or None,
                         done_statuses=tuple(own.get("done_statuses") or ()))


def business_owner_field(settings: Mapping[str, Any]) -> str | None:
    value = settings.get("business_owner_field")
    return value if isinstance(value, str) and value else None


def validate_settings(data: Any) -> dict[str, Any]:
    """The settings document PUT /api/settings accepts; raises ValueError with a readable reason."""
    if not isinstance(data, Mapping):
        raise ValueError("settings must be a JSON object")
    clean: dict[str, Any] = {}
    default = data.get("default_policy", DEFAULT_POLICY)
    if default not in POLICIES:
        raise ValueError(f"default_policy must be one of {', '.join(POLICIES)}")
    clean["default_policy"] = default
    owner = data.get("business_owner_field")
    if owner is not None:
        if not isinstance(owner, str) or not (owner.startswith("customfield_") and owner[12:].isdigit()):
            raise ValueError("business_owner_field must be a custom field id such as customfield_10050")
        clean["business_owner_field"] = owner
    projects = data.get("projects") or {}
    if not isinstance(projects, Mapping):
        raise ValueError("projects must map project keys to their policy")
    clean_projects: dict[str, Any] = {}
    for key, value in projects.items():
        if not isinstance(key, str) or not key.isupper() or not key.replace("_", "").isalnum() or len(key) > 30:
            raise ValueError(f"{key!r} is not a Jira project key")
        if not isinstance(value, Mapping) or value.get("policy") not in POLICIES:
            raise ValueError(f"projects.{key}.policy must be one of {', '.join(POLICIES)}")
        reopen_to = value.get("reopen_to")
        if reopen_to is not None and (not isinstance(reopen_to, str) or len(reopen_to) > 100):
            raise ValueError(f"projects.{key}.reopen_to must be a status or transition name")
        done = value.get("done_statuses") or []
        if not isinstance(done, list) or len(done) > 50 or not all(
                isinstance(name, str) and 0 < len(name) <= 100 for name in done):
            raise ValueError(f"projects.{key}.done_statuses must be a list of status names")
        clean_projects[key] = {"policy": value["policy"], **({"reopen_to": reopen_to} if reopen_to else {}),
                               **({"done_statuses": done} if done else {})}
    clean["projects"] = clean_projects
    environments = data.get("production_environments")
    if environments is not None:
        if not isinstance(environments, list) or not all(isinstance(e, str) and 0 < len(e) <= 100
                                                         for e in environments):
            raise ValueError("production_environments must be a list of environment names")
        clean["production_environments"] = environments
    mcp = data.get("mcp_enabled")
    if mcp is not None:
        if not isinstance(mcp, bool):
            raise ValueError("mcp_enabled must be true or false")
        clean["mcp_enabled"] = mcp  # AI assistants (MCP) for the whole site; on unless turned off
    return clean
