"""Issue keys named in commit messages, pull requests and branch names (INTERFACES 4)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

# The key itself, with the boundaries of INTERFACES 4: no letter or digit before it, and after
# it no letter, no digit and no `.` followed by a digit (`zookeeper-3.5.0` names no key).
_KEY_BODY = r"(?<![A-Za-z0-9])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9])(?!\.[0-9])"
_MESSAGE_KEY = re.compile(_KEY_BODY)
_BRANCH_KEY = re.compile(_KEY_BODY, re.IGNORECASE)

# Security advisories look exactly like keys; no Jira project is called CVE.
_NOT_PROJECTS = frozenset({"CVE"})

# GitHub names the branch of its Revert button `revert-<PR number>-<head ref of that PR>` and
# nests it (`revert-8-revert-7-patch-1`). That prefix is GitHub's bookkeeping, not an issue
# key REVERT-8, so it is stripped (repeatedly) before keys are read from the rest.
_GITHUB_REVERT_PREFIX = re.compile(r"^(?:revert-[0-9]+-)+", re.IGNORECASE)
# GitHub's web editor proposes `patch-<n>` or `<user>-patch-<n>` for a quick edit. That counter
# is GitHub's too; reading it as key PATCH-1 would link every web edit to one issue.
_GITHUB_PATCH_SUFFIX = re.compile(r"(?:^|(?<=[-/_]))patch-[0-9]+$", re.IGNORECASE)


def _unique(keys: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for key in keys:
        if project_of(key) not in _NOT_PROJECTS:
            seen.setdefault(key, None)
    return list(seen)


def project_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def find_keys(text: str) -> list[str]:
    """Keys in a commit message, PR title or body: upper case as written, unique, in order."""
    if not text:
        return []
    return _unique(_MESSAGE_KEY.findall(text))


def find_keys_in_branch(branch: str) -> list[str]:
    """Keys in a branch name: any case, returned upper-cased (`feat-304-retry` -> FEAT-304)."""
    if not branch:
        return []
    name = branch.removeprefix("refs/heads/")
    name = _GITHUB_REVERT_PREFIX.sub("", name)
    name = _GITHUB_PATCH_SUFFIX.sub("", name)
    return _unique(match.upper() for match in _BRANCH_KEY.findall(name))


def filter_known(keys: Iterable[str], known_projects: Collection[str] | None) -> list[str]:
    """Drop keys whose project the tenant's Jira does not have. `None` means "not known yet":
    nothing is dropped, so callers without the project list still see every key."""
    if known_projects is None:
        return list(keys)
    return [key for key in keys if project_of(key) in known_projects]
