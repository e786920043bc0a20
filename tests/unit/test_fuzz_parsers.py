"""Property-based tests (hypothesis) over every parser of outside input (issue 9): the webhook, CI
and flag payload parsers, the JSON body reader, issue-key extraction and revert parsing.

Each gets arbitrary and adversarial input (text made of the fragments the parsers look for, JSON
of any shape, megabyte strings of near-matching text) and must answer within a time bound, raising
nothing but its documented error: `PayloadError` for payloads, `BadRequest` for bodies, nothing at
all for keys and reverts. The key and revert patterns are also checked against the contract's
plain regular expressions on short text, so a faster pattern means the same thing.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connect_app.errors import BadRequest
from connect_app.intake.parse import (
    PayloadError,
    parse_ci_deployment,
    parse_deployment,
    parse_flag_changes,
    parse_pull_request,
    parse_push,
    parse_time,
)
from connect_app.intake.store import MAX_JSON_DEPTH, json_body
from connect_app.reality.keys import find_keys, find_keys_in_branch
from connect_app.reality.model import Commit, PullRequest
from connect_app.reality.reverts import _PR_SUFFIX, _QUOTED, _UNQUOTED, analyse_reverts, looks_like_revert

NOW = datetime(2026, 11, 26, 23, 31, tzinfo=UTC)
MEGABYTE = 1024 * 1024
# A megabyte of adversarial text takes about 0.1 s per parser on an idle machine (the patterns
# these tests caught took minutes to hours); the bounds leave room for a CI box shared by others.
HUGE_DEADLINE = timedelta(seconds=4)
# Seconds one parser may take on one megabyte, measured around the call. Linear parsers take
# well under a second; the backtracking this guards against takes minutes to hours on a megabyte,
# so the budget leaves a loaded CI machine room (2 s failed once at load 14) and still catches it.
HUGE_BUDGET = 10.0
# How many examples each property gets comes from the hypothesis profile (tests/conftest.py):
# fresh random ones every run, more with HYPOTHESIS_PROFILE=thorough.
FUZZ = settings(deadline=timedelta(milliseconds=500), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# A few megabytes per property: the PATHOLOGICAL inputs below are the ones that once took minutes.
HUGE = settings(max_examples=8, deadline=HUGE_DEADLINE, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# What the parsers look for, and what sits next to it in real messages.
FRAGMENTS = [
    "FEAT-304", "feat-304", "A_", "a_", "_", "AB", "-", "-1", "-0", "1", "9" * 50, ".", ".5", " ", "  ", "\t",
    "\n", "\r\n", ":", '"', "'", "(#", "(#12)", ")", "#", "…", "...", "Revert ", "Revert \"", "revert",
    "Reverting ", "Reapply \"", "This reverts commit ", "reversing changes made to ", "abcdef1",
    "0123456789abcdef0123456789abcdef01234567", "* ", "Merge pull request #7 from acme/", "revert-7-",
    "Reverts acme/shop#", "refs/heads/", "patch-1", "CVE-2024-1", "zookeeper-3.5.0", "é", "\u2028", "\x00",
]
adversarial_text = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)
any_text = st.one_of(st.text(max_size=300), adversarial_text)


@st.composite
def huge_text(draw: st.DrawFn) -> str:
    """About a megabyte: a short run of fragments repeated, optionally ending in something else."""
    unit = "".join(draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=4)))
    tail = draw(st.sampled_from(["", "x", "\n", "-1", '"', ")", "!"]))
    return unit * (MEGABYTE // len(unit) + 1) + tail


# Short runs that once took seconds or minutes on a megabyte (quadratic or exponential backtracking).
PATHOLOGICAL = ["A_" * (MEGABYTE // 2), "a_" * (MEGABYTE // 2), "AB-1 " * (MEGABYTE // 5),
                "AB-1: " * (MEGABYTE // 6), " " * MEGABYTE + "x", "Revert " + " " * MEGABYTE + "\nx",
                "(#" + "9" * 5000 + ")", "Revert \"" + "(#1)" * (MEGABYTE // 4)]


def timed(run: Any, *args: Any) -> Any:
    started = time.perf_counter()
    result = run(*args)
    elapsed = time.perf_counter() - started
    assert elapsed < HUGE_BUDGET, f"{run.__name__} took {elapsed:.2f} s on {len(args[0]) if args else 0} characters"
    return result


# ---- issue keys --------------------------------------------------------------------------------------

# The contract's key (INTERFACES 4) as the plain pattern it is written as: slow on adversarial
# input, so only ever run on short text here, as the reference the real pattern must agree with.
REFERENCE_KEY = r"(?<![A-Za-z0-9])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9])(?!\.[0-9])"
KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")


def _reference_unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(key for key in keys if key.rsplit("-", 1)[0] != "CVE"))


@FUZZ
@given(any_text)
@example("x_FEAT-1 A_B-2 _C-3 1_D-4 FEAT-12x FEAT-1.5 CVE-2024-1 FEAT-1_AB-2")
def test_message_keys_are_the_contracts_keys(text: str) -> None:
    keys = find_keys(text)
    assert all(KEY.match(key) and key in text for key in keys)
    assert keys == _reference_unique(re.findall(REFERENCE_KEY, text, re.ASCII))


@FUZZ
@given(any_text)
@example("refs/heads/revert-8-revert-7-feat-304-retry")
def test_branch_keys_are_the_contracts_keys_in_any_case(text: str) -> None:
    keys = find_keys_in_branch(text)
    assert all(KEY.match(key) for key in keys)
    if not text.lower().startswith(("refs/heads/", "revert-")) and "patch-" not in text.lower():
        reference = re.findall(REFERENCE_KEY, text, re.IGNORECASE | re.ASCII)
        assert keys == _reference_unique([key.upper() for key in reference])


@HUGE
@given(huge_text())
def test_keys_in_a_megabyte_are_found_in_time(text: str) -> None:
    timed(find_keys, text)
    timed(find_keys_in_branch, text)


def test_keys_in_pathological_megabytes_are_found_in_time() -> None:
    for text in PATHOLOGICAL:
        timed(find_keys, text)
        timed(find_keys_in_branch, text)


# ---- reverts -----------------------------------------------------------------------------------------

# The revert patterns as first written (exponential or quadratic on adversarial text): short text
# only, as the reference the possessive patterns must agree with.
REFERENCE_KEY_PREFIX = r"(?:[A-Z][A-Z0-9_]+-[0-9]+\s*[:\-]?\s*)*"
REFERENCE_REVERT_WORDING = re.compile(r"^" + REFERENCE_KEY_PREFIX + r"\W*revert(?:s|ed|ing)?\b", re.IGNORECASE)
REFERENCE_QUOTED = re.compile(r"^" + REFERENCE_KEY_PREFIX + r"(Revert|Reapply)\s*:?\s*\"(.*)$")
REFERENCE_UNQUOTED = re.compile(r"^" + REFERENCE_KEY_PREFIX + r"(?:Revert|Reverting|Reverts|Reverted)\b\s*:?\s*(.+)$",
                                re.IGNORECASE)
REFERENCE_PR_SUFFIX = re.compile(r"\s*\(#([0-9]{1,18})\)\s*$")
short_text = st.lists(st.sampled_from([*FRAGMENTS, "AB-1", "ab-1", "R-1", "Reverted", "Reapply"]),
                      max_size=10).map("".join)


def commits_of(messages: list[str]) -> list[Commit]:
    return [Commit(sha=f"{index:040x}", message=message) for index, message in enumerate(messages)]


def _analysed(messages: list[str], pulls: tuple[PullRequest, ...] = ()) -> Any:
    analysis = analyse_reverts(commits_of(messages), pulls)
    shas = {commit.sha for commit in commits_of(messages)}
    for revert in analysis.reverts:
        assert revert.sha in shas and set(revert.targets) <= shas
    return analysis


@FUZZ
@given(st.lists(any_text, max_size=8))
def test_revert_parsing_of_any_history_raises_nothing(messages: list[str]) -> None:
    _analysed(messages)


def _groups(match: re.Match[str] | None) -> tuple[Any, ...] | None:
    return None if match is None else (match.start(), *match.groups())


@FUZZ
@given(st.text(alphabet="AB-1: \t", max_size=30).map(lambda s: s + "Revert x"), short_text)
def test_revert_patterns_mean_what_the_plain_patterns_meant(prefixed: str, text: str) -> None:
    for candidate in (prefixed, text):
        subject = candidate.split("\n", 1)[0].strip()  # what the patterns are applied to
        expected = bool(REFERENCE_REVERT_WORDING.match(subject)) or subject.startswith("# *** SAY WHY")
        assert looks_like_revert(subject) == expected
        assert _groups(_QUOTED.match(subject)) == _groups(REFERENCE_QUOTED.match(subject))
        assert _groups(_UNQUOTED.match(subject)) == _groups(REFERENCE_UNQUOTED.match(subject))
        assert _groups(_PR_SUFFIX.search(candidate)) == _groups(REFERENCE_PR_SUFFIX.search(candidate))


@FUZZ
@given(st.integers(min_value=1, max_value=10**6), any_text, any_text)
def test_revert_button_pull_requests_with_any_text_raise_nothing(number: int, branch: str, body: str) -> None:
    pull = PullRequest(number=number, title=body[:50], body=body, head_ref=f"revert-{number}-{branch}",
                       merge_commit_sha=f"{1:040x}", merged_at=NOW)
    _analysed(["Feature", f"Merge pull request #{number} from acme/{branch}\n\n{body}"], (pull,))


@HUGE
@given(huge_text())
def test_revert_parsing_of_a_megabyte_message_is_in_time(text: str) -> None:
    timed(lambda t: _analysed(["Add payment retry (#12)", t, "Revert \"" + t[:1000]]), text)
    timed(looks_like_revert, text)


def test_revert_parsing_of_pathological_megabytes_is_in_time() -> None:
    for text in PATHOLOGICAL:
        timed(lambda t: _analysed(["Add payment retry (#12)", t, t + "\nThis reverts commit abcdef1"]), text)
        timed(looks_like_revert, text)


def test_a_pull_request_number_too_long_for_int_is_no_pull_request() -> None:
    huge = "9" * 5000
    analysis = _analysed([f"Add retry (#{huge})", f"Merge pull request #{huge} from acme/revert-{huge}-x",
                          f'Revert "Add retry (#{huge})"'])
    assert analysis.reverts  # still reverts the subject it names


# ---- payloads ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20,
)
TIMES = st.one_of(json_values, st.sampled_from(["2026-11-26T23:31:00Z", "0001-01-01T00:00:00+01:00",
                                                "9999-12-31T23:59:59-01:00", "2026-13-45", "", "Z"]),
                  st.integers(min_value=-(10**400), max_value=10**400))
SHAS = st.one_of(json_values, st.sampled_from(["abcdef1", "0" * 40, "xyz", ""]))


def _only_payload_errors(run: Any, *args: Any) -> Any:
    try:
        return run(*args)
    except PayloadError:
        return None


@st.composite
def push_payloads(draw: st.DrawFn) -> dict[str, Any]:
    commit = {"id": draw(SHAS), "message": draw(any_text | json_values), "timestamp": draw(TIMES),
              "author": draw(json_values), "added": draw(json_values), "url": draw(json_values)}
    return {"ref": draw(json_values | st.just("refs/heads/main")), "before": draw(SHAS), "after": draw(SHAS),
            "repository": draw(json_values | st.just({"full_name": "acme/shop", "default_branch": "main"})),
            "commits": draw(json_values | st.just([commit])), "forced": draw(json_values),
            "compare": draw(json_values)}


@st.composite
def pull_request_payloads(draw: st.DrawFn) -> dict[str, Any]:
    pull = {"merged": True, "number": draw(json_values), "title": draw(json_values | any_text),
            "body": draw(json_values | any_text), "head": draw(json_values | st.just({"ref": "feat-304"})),
            "base": draw(json_values | st.just({"ref": "main"})), "merge_commit_sha": draw(SHAS),
            "merged_at": draw(TIMES), "html_url": draw(json_values), "commits": draw(json_values)}
    return {"action": draw(json_values | st.just("closed")), "number": draw(json_values),
            "pull_request": draw(json_values | st.just(pull))}


@st.composite
def deployment_payloads(draw: st.DrawFn) -> dict[str, Any]:
    deployment = {"id": draw(json_values), "environment": draw(json_values), "sha": draw(SHAS),
                  "created_at": draw(TIMES)}
    status = {"state": draw(json_values), "environment": draw(json_values), "updated_at": draw(TIMES),
              "environment_url": draw(json_values), "target_url": draw(json_values)}
    return {"deployment": draw(json_values | st.just(deployment)),
            "deployment_status": draw(json_values | st.just(status))}


@st.composite
def ci_payloads(draw: st.DrawFn) -> dict[str, Any]:
    return {"environment": draw(json_values | st.just("production")), "sha": draw(SHAS),
            "status": draw(json_values | st.just("success")), "deployed_at": draw(TIMES),
            "url": draw(json_values | st.just("https://ci.example.com/1"))}


@st.composite
def flag_payloads(draw: st.DrawFn) -> dict[str, Any]:
    environments = draw(json_values | st.just({"production": {"on": False}}))
    return {
        # generic
        "key": draw(json_values | st.just("FEAT-304-retry")), "on": draw(json_values | st.booleans()),
        "name": draw(json_values), "environment": draw(json_values), "changed_at": draw(TIMES),
        "description": draw(json_values), "tags": draw(json_values), "url": draw(json_values),
        # LaunchDarkly
        "kind": draw(json_values | st.just("flag")), "date": draw(TIMES), "_links": draw(json_values),
        "currentVersion": draw(json_values | st.just({"key": "retry", "environments": environments,
                                                      "tags": draw(json_values)})),
        # Unleash
        "type": draw(json_values | st.sampled_from(["feature-environment-enabled", "feature-environment-disabled"])),
        "featureName": draw(json_values), "data": draw(json_values), "createdAt": draw(TIMES),
    }


@FUZZ
@given(TIMES)
def test_times_parse_or_say_why(value: Any) -> None:
    parsed = _only_payload_errors(parse_time, value)
    assert parsed is None or parsed.tzinfo is not None


@FUZZ
@given(push_payloads())
def test_push_payloads_parse_or_say_why(payload: dict[str, Any]) -> None:
    _only_payload_errors(parse_push, payload)


@FUZZ
@given(pull_request_payloads())
def test_pull_request_payloads_parse_or_say_why(payload: dict[str, Any]) -> None:
    _only_payload_errors(parse_pull_request, payload)


@FUZZ
@given(st.sampled_from(["deployment", "deployment_status"]), deployment_payloads())
def test_github_deployment_payloads_parse_or_say_why(event: str, payload: dict[str, Any]) -> None:
    _only_payload_errors(parse_deployment, event, payload)


@FUZZ
@given(ci_payloads())
def test_ci_deployments_parse_or_say_why(payload: dict[str, Any]) -> None:
    parsed = _only_payload_errors(parse_ci_deployment, payload, NOW)
    assert parsed is None or parsed.at <= NOW


@FUZZ
@given(st.sampled_from(["launchdarkly", "unleash", "generic"]), flag_payloads())
def test_flag_events_parse_or_say_why(provider: str, payload: dict[str, Any]) -> None:
    changes = _only_payload_errors(parse_flag_changes, provider, payload, NOW) or []
    assert all(isinstance(change.on, bool) and isinstance(change.key, str) for change in changes)


@FUZZ
@given(st.sampled_from([parse_push, parse_pull_request, lambda p: parse_deployment("deployment_status", p),
                        lambda p: parse_ci_deployment(p, NOW), lambda p: parse_flag_changes("launchdarkly", p, NOW),
                        lambda p: parse_flag_changes("unleash", p, NOW),
                        lambda p: parse_flag_changes("generic", p, NOW)]),
       st.dictionaries(any_text, json_values, max_size=6))
def test_any_json_object_parses_or_says_why(parser: Any, payload: dict[str, Any]) -> None:
    _only_payload_errors(parser, payload)


# ---- JSON bodies ----------------------------------------------------------------------------------------


def _only_bad_requests(raw: bytes) -> dict[str, Any] | None:
    try:
        return json_body(raw)
    except BadRequest:
        return None


@FUZZ
@given(st.one_of(st.binary(max_size=300), adversarial_text.map(str.encode),
                 st.lists(st.sampled_from([b"[", b"{", b"]", b"}", b'"a":', b'"', b"\\", b",", b"1"]),
                          max_size=200).map(b"".join)))
def test_any_body_is_a_json_object_or_a_bad_request(raw: bytes) -> None:
    _only_bad_requests(raw)


@HUGE
@given(st.sampled_from([b"[", b"{\"a\":", b"[{\"a\":[", b"\"\\\"[", b"[1,"]), st.sampled_from([b"", b"]", b"}"]))
def test_a_megabyte_of_nesting_is_refused_in_time(unit: bytes, tail: bytes) -> None:
    raw = unit * (MEGABYTE // len(unit)) + tail
    assert timed(_only_bad_requests, raw) is None


def test_nesting_just_within_the_limit_is_read() -> None:
    raw = json.dumps({"a": json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))}).encode()
    assert _only_bad_requests(raw) is not None
