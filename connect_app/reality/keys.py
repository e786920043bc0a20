"""Issue keys named in commit messages, pull requests and branch names (INTERFACES 4)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator

# The key itself, with the boundaries of INTERFACES 4: `[A-Z][A-Z0-9_]+-[1-9][0-9]*`, no letter or
# digit before it, and after it no letter, no digit and no `.` followed by a digit
# (`zookeeper-3.5.0` names no key). Key characters are ASCII.
#
# Written plainly, `(?<![A-Za-z0-9])[A-Z][A-Z0-9_]+-...` starts again after every `_` of a run
# like `A_A_A_...` and rereads the rest of the run each time: a megabyte took hours. Every start
# inside one run of key characters ends where the run ends, so a run is read from its first
# character only, only when `-<digit>` follows it, and (atomic group) only the first place inside
# it that may start a key is tried. tests/unit/test_fuzz_parsers.py checks that this finds
# exactly what the plain pattern finds.
_RUN_KEY = (r"(?=[A-Z0-9_]++-[1-9])(?>[A-Z0-9_]*?(?<![A-Za-z0-9])([A-Z][A-Z0-9_]++-[1-9][0-9]*+))"
            r"(?![A-Za-z0-9])(?!\.[0-9])")
_RUN_START = r"(?<![A-Z0-9_])"
_MESSAGE_KEY = re.compile(_RUN_START + _RUN_KEY, re.ASCII)
_MESSAGE_KEY_HERE = re.compile(_RUN_KEY, re.ASCII)
_BRANCH_KEY = re.compile(_RUN_START + _RUN_KEY, re.ASCII | re.IGNORECASE)
_BRANCH_KEY_HERE = re.compile(_RUN_KEY, re.ASCII | re.IGNORECASE)


def _scan(text: str, anywhere: re.Pattern[str], here: re.Pattern[str]) -> Iterator[str]:
    """Keys in order, not overlapping. A key followed by `_` ends inside a run, whose rest may
    hold the next key (`FEAT-1_AB-2`): that rest is read as a run of its own."""
    at = 0
    while True:
        rest = here.match(text, at) if at and text[at:at + 1] == "_" else None
        if rest is not None:
            yield rest.group(1)
            at = rest.end()
            continue
        for found in anywhere.finditer(text, at):
            yield found.group(1)
            if text[found.end():found.end() + 1] == "_":
                at = found.end()
                break
        else:
            return


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
    # A key holds one `-`: what is before it is the project.
    return [key for key in dict.fromkeys(keys) if key.split("-", 1)[0] not in _NOT_PROJECTS]


# A whole field or path segment that must be a key, as Jira allows one (not a key found in text):
# a project key is a capital letter then up to 29 capitals, digits or `_`; an issue key is a
# project key of two characters or more, `-`, and a number from 1.
PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,29}$")
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")


def project_of(key: str) -> str:
    return key.rsplit("-", 1)[0]


def find_keys(text: str) -> list[str]:
    """Keys in a commit message, PR title or body: upper case as written, unique, in order."""
    if not text:
        return []
    return _unique(_scan(text, _MESSAGE_KEY, _MESSAGE_KEY_HERE))


def find_keys_in_branch(branch: str) -> list[str]:
    """Keys in a branch name: any case, returned upper-cased (`feat-304-retry` -> FEAT-304)."""
    if not branch:
        return []
    name = branch.removeprefix("refs/heads/")
    name = _GITHUB_REVERT_PREFIX.sub("", name)
    name = _GITHUB_PATCH_SUFFIX.sub("", name)
    return _unique(match.upper() for match in _scan(name, _BRANCH_KEY, _BRANCH_KEY_HERE))


def filter_known(keys: Iterable[str], known_projects: Collection[str] | None) -> list[str]:
    """Drop keys whose project the tenant's Jira does not have. `None` means "not known yet":
    nothing is dropped, so callers without the project list still see every key."""
    if known_projects is None:
        return list(keys)
    return [key for key in keys if project_of(key) in known_projects]
