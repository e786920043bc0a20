"""The Connect descriptor served at `/atlassian-connect.json`.

The descriptor is data, not code: `atlassian-connect.json` at the top of the repository is the
copy people read and the Forge manifest test compares against; `connect_app/atlassian-connect.json`
is the identical copy shipped inside the package (declared as package data, so it is found from an
editable install and from a wheel alike). `tests/unit/test_descriptor.py` fails when they differ.
The only thing filled in at serve time is the app's base URL.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from connect_app.connect.jwt import normalise_base_url

APP_KEY = "system-reality-for-jira"
DESCRIPTOR_FILE = "atlassian-connect.json"
ISSUE_PROPERTY_KEY = "system-reality"
# Set on a project once one of its issues has linked changes: the panel's and issue context's
# `entity_property_exists` conditions show them there (and on issues with the issue property) only.
PROJECT_PROPERTY_KEY = "system-reality"
ISSUE_CONTEXT_KEY = "drift-context"
# Jira shows the status of an issue context from this issue property (Atlassian's Issue Context
# module docs: `com.atlassian.jira.issue:[addonKey]:[moduleKey]:status`).
ISSUE_CONTEXT_STATUS_PROPERTY = f"com.atlassian.jira.issue:{APP_KEY}:{ISSUE_CONTEXT_KEY}:status"
_PLACEHOLDER = "{{baseUrl}}"


@lru_cache(maxsize=1)
def _template_text() -> str:
    return resources.files("connect_app").joinpath(DESCRIPTOR_FILE).read_text(encoding="utf-8")


def _fill(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return value.replace(_PLACEHOLDER, base_url)
    if isinstance(value, list):
        return [_fill(item, base_url) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, base_url) for key, item in value.items()}
    return value


def load_descriptor(base_url: str) -> dict[str, Any]:
    """The descriptor with `baseUrl` (and links naming it) set to the app's public base URL.

    The base URL is normalised (no trailing slash) because Atlassian puts exactly this string in
    the `aud` claim of signed installs, which `verify_install_token` compares with.
    """
    template = json.loads(_template_text())
    return _fill(copy.deepcopy(template), normalise_base_url(base_url))


def module_urls(descriptor: dict[str, Any]) -> dict[str, str]:
    """Every URL the descriptor makes Jira call or frame, by `<moduleType>:<key>` (and `lifecycle:<event>`).

    Issue contexts contribute their `target.url` (and their icon as `...:icon`).
    """
    urls: dict[str, str] = {}
    for event, path in descriptor.get("lifecycle", {}).items():
        urls[f"lifecycle:{event}"] = path
    for module_type, modules in descriptor.get("modules", {}).items():
        for module in modules if isinstance(modules, list) else [modules]:
            key = module.get("key", "")
            if "url" in module:
                urls[f"{module_type}:{key}"] = module["url"]
            target = module.get("target")
            if isinstance(target, dict) and "url" in target:
                urls[f"{module_type}:{key}"] = target["url"]
            icon = module.get("icon")
            if isinstance(icon, dict) and "url" in icon:
                urls[f"{module_type}:{key}:icon"] = icon["url"]
    return urls
