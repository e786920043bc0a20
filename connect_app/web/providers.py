"""The three repository hosts a connection can name, as the admin sees them: the repository's
form, the default API address, where the host posts its webhooks, and the exact webhook settings
to enter on the host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Provider:
    name: str  # github | gitlab | bitbucket
    label: str
    repository_form: str
    repository: re.Pattern[str]
    default_api_url: str
    webhook_path: str
    api_suffix: str = ""  # what a self-managed API address must end with
    web_example: str = ""  # a repository's address as people copy it from the host

    def webhook_settings(self, url: str) -> dict[str, Any]:
        """What to enter on the host's webhook page (README "Connecting a repository")."""
        return _SETTINGS[self.name](url)


_SEGMENT = r"[A-Za-z0-9_.-]{1,100}"
REPOSITORY_HOSTS: dict[str, Provider] = {
    "github": Provider("github", "GitHub", "owner/name", re.compile(rf"^{_SEGMENT}/{_SEGMENT}$"),
                       "https://api.github.com", "/github/webhook/",
                       web_example="https://github.com/owner/name"),
    # GitLab projects live in nested groups: group/subgroup/.../project (at most 20 levels).
    "gitlab": Provider("gitlab", "GitLab", "group/subgroup/project",
                       re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT}){{1,20}}$"), "https://gitlab.com/api/v4",
                       "/gitlab/webhook/", api_suffix="/api/v4",
                       web_example="https://gitlab.com/group/subgroup/project"),
    "bitbucket": Provider("bitbucket", "Bitbucket Cloud", "workspace/repo_slug",
                          re.compile(rf"^{_SEGMENT}/{_SEGMENT}$"), "https://api.bitbucket.org/2.0",
                          "/bitbucket/webhook/", api_suffix="/2.0",
                          web_example="https://bitbucket.org/workspace/repo_slug"),
}


def _github(url: str) -> dict[str, Any]:
    return {"payload_url": url, "content_type": "application/json", "secret": "the webhook_secret above",
            "events": ["push", "pull_request", "deployment", "deployment_status", "release"]}


def _gitlab(url: str) -> dict[str, Any]:
    return {"url": url, "secret_token": "the webhook_secret above",
            "trigger": ["Push events (all branches, or the default branch)", "Merge request events",
                        "Deployment events", "Releases events"],
            "enable_ssl_verification": True}


def _bitbucket(url: str) -> dict[str, Any]:
    return {"url": url, "secret": "the webhook_secret above", "status": "Active",
            "triggers": ["Repository: Push", "Pull Request: Merged", "Repository: Build status created",
                         "Repository: Build status updated"]}


_SETTINGS = {"github": _github, "gitlab": _gitlab, "bitbucket": _bitbucket}
