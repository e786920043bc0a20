"""Which default-branch commits revert which others (INTERFACES 4, REVERTS.md).

One pass over the default branch in order. Every lookup goes through an index that grows as the
pass goes (SHA prefixes, subjects, pull-request numbers), so "earlier" comes for free and the
cost stays about linear in the size of the history.

Decisions where the contract leaves room:
- A `This reverts commit <sha>` SHA that names no earlier default-branch commit reverts nothing
  (REVERTS.md: reverts inside a squashed branch). It is recorded in `unresolved` only when none
  of the message's SHAs resolved and the line is the commit's own words, not part of a GitHub
  squash listing (a line starting with `* ` before it): those are the SHAs worth fetching.
- An abbreviated SHA that matches several earlier commits is ambiguous and resolves nothing.
- A `Revert "<S>"` whose SHA does not resolve still counts if S matches an earlier subject.
- `Revert <S>` without quotes (`Revert ABC-1485 upgrade ...`) is a revert only when S is
  exactly an earlier subject; otherwise it is an unconfirmed revert.
- `Reapply "<S>"` that matches no reverted commit is an ordinary commit: it re-lands code.
- A revert of a commit that is already reverted changes nothing; `reverted_by` keeps the first.
- When an undo chain puts a revert back into effect (a revert of `Revert "Revert "B""`), the
  commit that did so is recorded as keeping B reverted: it is when B stopped being live.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from connect_app.reality.keys import find_keys
from connect_app.reality.model import Commit, PullRequest, Revert, RevertAnalysis, UnconfirmedRevert

RevertForm = Literal["sha", "revert-button", "subject", "reapply", "revert-of-revert"]

_SHA = r"([0-9a-fA-F]{7,40})(?![0-9a-zA-Z])"
_REVERTS_COMMIT = re.compile(r"This\s+reverts\s+commit\s+" + _SHA, re.IGNORECASE)
_REVERSING = re.compile(r"reversing\s+changes\s+made\s+to\s+" + _SHA, re.IGNORECASE)
# `ABC-4788: Revert "ABC-4092: ..."`: people put a new key in front of git's subject.
# Possessive (`++`, `*+`) wherever what follows cannot start with what was taken: with
# `\s*[:\-]?\s*` each space could go to either `\s*`, so `AB-1 AB-1 ...` without a revert took
# exponential time, and a subject of spaces took quadratic time (tests/unit/test_fuzz_parsers.py).
_KEY_PREFIX = r"(?:[A-Z][A-Z0-9_]++-[0-9]++\s*+(?:[:\-]\s*+)?)*"
_QUOTED = re.compile(r"^" + _KEY_PREFIX + r"(Revert|Reapply)\s*+(?::\s*+)?\"(.*)$")
_UNQUOTED = re.compile(r"^" + _KEY_PREFIX + r"(?:Revert|Reverting|Reverts|Reverted)\b\s*+(?::\s*+)?(.+)$", re.I)
_REVERT_WORDING = re.compile(r"^" + _KEY_PREFIX + r"\W*revert(?:s|ed|ing)?\b", re.IGNORECASE)
# `git revert --reference --no-edit` leaves this subject in place.
_REFERENCE_PLACEHOLDER = "# *** SAY WHY WE ARE REVERTING ON THE TITLE LINE ***"
# Pull request numbers: at most 18 digits, so that `int` never refuses one (Python refuses
# more than 4300 digits). `(?<!\s)`: a search would otherwise retry from every space of a run.
_PR_NUMBER = r"([0-9]{1,18})(?![0-9])"
_PR_SUFFIX = re.compile(r"(?<!\s)\s*+\(#" + _PR_NUMBER + r"\)\s*+$")
_MERGE_PR = re.compile(r"^Merge pull request #" + _PR_NUMBER + r" from [^\s/]+/(\S+)")
_REVERT_BRANCH = re.compile(r"^(?:refs/heads/)?revert-" + _PR_NUMBER + r"-", re.IGNORECASE)
_REVERTS_PR_BODY = re.compile(r"Reverts\s+[\w.-]+/[\w.-]+#" + _PR_NUMBER)
# GitLab's Revert button: the revert commit (of a merge request's merge commit) and the merge
# request it opens (branch `revert-<short sha>`) both say `This reverts merge request !N`.
_REVERTS_MERGE_REQUEST = re.compile(r"This\s+reverts\s+merge\s+request\s+(?:[\w./-]*)!" + _PR_NUMBER, re.IGNORECASE)
# Which request a merge or squash commit carried, from the hosts' default messages: GitLab's
# merge commit ends `See merge request group/project!N`.
_SEE_MERGE_REQUEST = re.compile(r"See\s+merge\s+request\s+[\w./-]*!" + _PR_NUMBER)
_ELLIPSES = ("…", "...")
_PREFIX_BUCKET = 20  # characters of a subject indexed for `…`-cut lookups
_ABBREVIATED = 7  # git's shortest abbreviation, and the key of the abbreviation index


def looks_like_revert(subject: str) -> bool:
    """Worded as a revert (`Revert ...`, `Reverting ...`), whether or not it matches anything."""
    return bool(_REVERT_WORDING.match(subject)) or subject.startswith(_REFERENCE_PLACEHOLDER)


def may_revert(message: str) -> bool:
    """Whether a commit's message could make it a revert (or an unconfirmed one) at all; a commit
    whose message cannot is an ordinary commit unless GitHub's Revert button merged it."""
    return "revert" in message.lower() or "eapply" in message


def is_revert_button_branch(head_ref: str) -> bool:
    """The head branch of a pull request made by GitHub's Revert button (`revert-<n>-<branch>`)."""
    return _REVERT_BRANCH.match(head_ref or "") is not None


def _quoted_subject(subject: str) -> tuple[str, str] | None:
    """(`Revert` | `Reapply`, S) for `Revert "<S>"`, tolerating ` (#N)` and a missing quote."""
    match = _QUOTED.match(subject)
    if match is None:
        return None
    inner = _PR_SUFFIX.sub("", match.group(2)).rstrip()
    inner = inner.removesuffix('"')
    return (match.group(1), inner) if inner else None


def _squash_listing_start(message: str) -> float:
    """Where a GitHub squash message starts listing the branch's commits as `* subject` lines
    (past its first line), or infinity. Found once per message, not once per SHA in it."""
    found = message.find("\n* ")
    return found + 3 if found >= 0 else float("inf")


class _Ledger:
    """Applies reverts in order; undoing a revert restores what it reverted, recursively."""

    def __init__(self, is_revert: Callable[[str], bool]) -> None:
        self.is_revert = is_revert
        self.effects: dict[str, tuple[str, ...]] = {}
        self.active: set[str] = set()
        self.undone: set[str] = set()
        self.reverted_by: dict[str, str] = {}

    def apply(self, sha: str, effects: tuple[str, ...]) -> None:
        self.effects[sha] = effects
        self.active.add(sha)
        for target in effects:
            self._revert(target, sha)

    def _revert(self, target: str, by: str) -> None:
        if self.is_revert(target):
            if target in self.active:
                self.active.discard(target)
                self.undone.add(target)
                for inner in self.effects.get(target, ()):
                    self._restore(inner, by)
        else:
            self.reverted_by.setdefault(target, by)

    def _restore(self, target: str, by: str) -> None:
        if self.is_revert(target):
            if target in self.undone:
                self.undone.discard(target)
                self.active.add(target)
                for inner in self.effects.get(target, ()):
                    self._revert(inner, by)
        else:
            self.reverted_by.pop(target, None)


@dataclass
class _Pass:
    commits: Sequence[Commit]
    pulls: Sequence[PullRequest]
    reverts: dict[str, Revert] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.subjects = [commit.subject for commit in self.commits]
        self.position = {commit.sha: index for index, commit in enumerate(self.commits)}
        self.ledger = _Ledger(lambda sha: sha in self.reverts)
        self.pull_by_number = {pull.number: pull for pull in self.pulls}
        # Indexes are built once over the whole branch; every lookup passes the position it
        # looks back from, so only earlier commits ever match.
        self.by_prefix = self._abbreviation_index()
        self.by_subject, self.by_subject_start = self._subject_indexes()
        self.button_of = self._revert_button_commits()
        names_request = any("merge request" in commit.message for commit in self.commits)
        self.merge_of_pr = self._merges_by_pull_request() if self.button_of or names_request else {}

    # ---- indexes -------------------------------------------------------------------------

    def _subject_indexes(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Positions of the subjects that some revert names (only those: the rest of a long
        history never needs looking up)."""
        wanted: set[str] = set()
        starts: set[str] = set()
        for subject in self.subjects:
            lowered = subject.lower()
            if "revert" not in lowered and "reapply" not in lowered:
                continue
            quoted = _quoted_subject(subject)
            unquoted = _UNQUOTED.match(subject) if quoted is None else None
            named = quoted[1] if quoted else (unquoted.group(1).strip() if unquoted else None)
            if named is None:
                continue
            wanted.add(named)
            for ellipsis in _ELLIPSES:
                cut = named.removesuffix(ellipsis).rstrip()
                if cut != named and len(cut) >= _PREFIX_BUCKET:
                    starts.add(cut[:_PREFIX_BUCKET])
        by_subject: dict[str, list[int]] = {}
        by_start: dict[str, list[int]] = {}
        for index, subject in enumerate(self.subjects):
            if subject in wanted:
                by_subject.setdefault(subject, []).append(index)
            if starts and subject[:_PREFIX_BUCKET] in starts:
                by_start.setdefault(subject[:_PREFIX_BUCKET], []).append(index)
        return by_subject, by_start

    def _abbreviation_index(self) -> dict[str, list[str]]:
        """SHAs by their first seven digits, for the abbreviations some message actually uses."""
        wanted: set[str] = set()
        for commit in self.commits:
            if "evert" in commit.message or "EVERT" in commit.message:
                wanted.update(
                    ref.lower()[:_ABBREVIATED] for ref in _REVERTS_COMMIT.findall(commit.message)
                    if len(ref) < 40
                )
        wanted.update(ref.lower()[:_ABBREVIATED] for ref in _REVERSING.findall("\n".join(
            commit.message for commit in self.commits if "reversing" in commit.message)) if len(ref) < 40)
        index: dict[str, list[str]] = {}
        if wanted:
            for sha in self.position:
                if sha[:_ABBREVIATED] in wanted:
                    index.setdefault(sha[:_ABBREVIATED], []).append(sha)
        return index

    def _merges_by_pull_request(self) -> dict[int, str]:
        """PR number -> its merge or squash commit, read from the hosts' default messages."""
        merges: dict[int, str] = {}
        for commit, subject in zip(self.commits, self.subjects, strict=True):
            merge = _MERGE_PR.match(subject)
            squash = _PR_SUFFIX.search(subject) if merge is None else None
            found = merge or squash or _SEE_MERGE_REQUEST.search(commit.message)
            if found is not None:
                merges.setdefault(int(found.group(1)), commit.sha)
        return merges

    def _resolve_sha(self, ref: str, before: int) -> str | None:
        """The one earlier commit whose SHA starts with `ref` (git SHAs are lower case)."""
        ref = ref.lower()
        if len(ref) == 40:
            return ref if self.position.get(ref, before) < before else None
        found = [
            sha for sha in self.by_prefix.get(ref[:_ABBREVIATED], ())
            if sha.startswith(ref) and self.position[sha] < before
        ]
        return found[0] if len(found) == 1 else None

    def _brought_in(self, index: int, mainline: str | None = None) -> tuple[str, ...]:
        """What the merge at `index` brought into the branch. Without parent data, a merge that
        arrived in one push sits right after its mainline parent, with what it brought between."""
        commit = self.commits[index]
        if commit.brought_in:
            # Without parents, `brought_in` is the push's guess: every commit listed before the
            # merge in its push. A revert that names the mainline parent (`reversing changes made
            # to <sha>`) tells us that one, at least, was not brought in. (Push order follows
            # dates, so the branch's commits may be listed before or after it.)
            return tuple(sha for sha in commit.brought_in if sha != mainline)
        if mainline is None and len(commit.parents) > 1:
            mainline = commit.parents[0]
        start = self.position.get(mainline) if mainline else None
        if start is None or start >= index:
            return ()
        return tuple(c.sha for c in self.commits[start + 1 : index])

    def _revert_button_commits(self) -> dict[str, int]:
        """Commits that carry out a Revert button (GitHub's revert-<n>-<branch> requests, GitLab's
        requests that say `This reverts merge request !N`), mapped to the request number they revert."""
        button_of: dict[str, int] = {}
        for pull in self.pulls:
            named_request = _REVERTS_MERGE_REQUEST.search(pull.body or "")
            if named_request is not None and pull.merged_at is not None:
                for sha in (*pull.commit_shas, pull.merge_commit_sha):
                    if sha in self.position:
                        button_of[sha] = int(named_request.group(1))
                continue
            branch = _REVERT_BRANCH.match(pull.head_ref or "")
            if branch is None or pull.merged_at is None:
                continue
            reverted = int(branch.group(1))
            named = _REVERTS_PR_BODY.search(pull.body or "")
            if named is not None and int(named.group(1)) != reverted:
                continue  # the body was edited to say something else: trust neither
            for sha in (*pull.commit_shas, pull.merge_commit_sha):
                if sha in self.position:
                    button_of[sha] = reverted
        for index, subject in enumerate(self.subjects):
            merge = _MERGE_PR.match(subject) if subject.startswith("Merge pull request #") else None
            branch = _REVERT_BRANCH.match(merge.group(2)) if merge else None
            if branch is None:
                continue
            reverted = int(branch.group(1))
            button_of.setdefault(self.commits[index].sha, reverted)
            for sha in self._brought_in(index):
                button_of.setdefault(sha, reverted)
        return button_of

    def _pull_request_commits(self, number: int, before: int) -> set[str]:
        shas: set[str] = set()
        pull = self.pull_by_number.get(number)
        merges = [self.merge_of_pr.get(number)]
        if pull is not None:
            shas.update(pull.commit_shas)
            merges.append(pull.merge_commit_sha if pull.merged_at is not None else None)
        for merge in merges:
            if merge is not None and merge in self.position:
                shas.add(merge)
                shas.update(self._brought_in(self.position[merge]))
        return {sha for sha in shas if self.position.get(sha, before) < before}

    def _latest_with_subject(self, subject: str, before: int, in_effect: bool = True) -> int | None:
        """Latest earlier commit with this subject (or starting with it, when cut with `…`)
        that is still in effect (to revert it) or reverted (to reapply it)."""
        cut = next((subject.removesuffix(e).rstrip() for e in _ELLIPSES if subject.endswith(e)), None)
        if cut is None or len(cut) >= _PREFIX_BUCKET:
            positions = (
                self.by_subject.get(subject, []) if cut is None
                else self.by_subject_start.get(cut[:_PREFIX_BUCKET], [])
            )
            candidates: Iterable[int] = (
                positions[k] for k in range(bisect_left(positions, before) - 1, -1, -1)
            )
        else:
            candidates = range(before - 1, -1, -1)  # short cut subjects are rare: plain scan
        for index in candidates:
            if index >= before:
                continue
            candidate = self.commits[index]
            if cut is not None and not self.subjects[index].startswith(cut):
                continue
            if self._in_effect(candidate.sha) == in_effect:
                return index
        return None

    def _in_effect(self, sha: str) -> bool:
        if sha in self.reverts:
            return sha in self.ledger.active
        return sha not in self.ledger.reverted_by

    # ---- the pass ------------------------------------------------------------------------

    def _expand(self, target: str, mainline: str | None) -> list[str]:
        """A target plus, for a merge, everything it brought in."""
        target_index = self.position[target]
        commit = self.commits[target_index]
        if commit.brought_in or len(commit.parents) > 1 or mainline is not None:
            return [target, *self._brought_in(target_index, mainline)]
        return [target]

    def run(self) -> RevertAnalysis:
        unconfirmed: list[UnconfirmedRevert] = []
        unresolved: dict[str, None] = {}
        for index, commit in enumerate(self.commits):
            outcome = self._classify(index, commit)
            if outcome.revert is not None:
                self.reverts[commit.sha] = outcome.revert
                self.ledger.apply(commit.sha, (*outcome.revert.targets, *outcome.revert.undoes))
            elif outcome.unconfirmed:
                keys = tuple(find_keys(commit.subject))
                unconfirmed.append(UnconfirmedRevert(commit.sha, commit.subject, keys))
            unresolved.update(dict.fromkeys(outcome.missing))
        return RevertAnalysis(
            reverts=tuple(self.reverts.values()),
            unconfirmed=tuple(unconfirmed),
            reverted_by=dict(self.ledger.reverted_by),
            unresolved=tuple(unresolved),
        )

    def _classify(self, index: int, commit: Commit) -> _Outcome:
        message = commit.message
        if commit.sha not in self.button_of and not may_revert(message):
            return _ORDINARY
        quoted = _quoted_subject(self.subjects[index])
        reapply = quoted is not None and quoted[0] == "Reapply"
        found: list[str] = []
        missing: list[str] = []
        reversing = _REVERSING.search(message)
        mainline = self._resolve_sha(reversing.group(1), index) if reversing else None
        listing = _squash_listing_start(message)
        for match in _REVERTS_COMMIT.finditer(message):
            target = self._resolve_sha(match.group(1), index)
            if target is not None:
                found.extend(self._expand(target, mainline))
            elif match.start() < listing:
                missing.append(match.group(1).lower())
        form: RevertForm = "sha"
        for match in _REVERTS_MERGE_REQUEST.finditer(message):
            from_request = self._pull_request_commits(int(match.group(1)), index)
            if from_request:
                found.extend(sorted(from_request, key=self.position.__getitem__))
                form = "revert-button"
        if commit.sha in self.button_of:
            from_button = self._pull_request_commits(self.button_of[commit.sha], index)
            if from_button:
                found.extend(sorted(from_button, key=self.position.__getitem__))
                form = "revert-button"
        if not found and quoted is not None:
            matched = self._latest_with_subject(quoted[1], index, in_effect=not reapply)
            if matched is not None:
                target = self.commits[matched].sha
                if not reapply:
                    found.extend(self._expand(target, None))
                elif target in self.ledger.reverted_by:
                    found.append(self.ledger.reverted_by[target])
                form = "subject"
        unquoted = _UNQUOTED.match(commit.subject) if quoted is None else None
        if not found and unquoted is not None:
            matched = self._latest_with_subject(unquoted.group(1).strip(), index)
            if matched is not None:
                found.extend(self._expand(self.commits[matched].sha, None))
                form = "subject"
        if not found:
            # Worded as a revert but matching nothing: shown, never acted on. An unmatched
            # `Reapply` is left an ordinary commit, since it re-lands code.
            unconfirmed = looks_like_revert(commit.subject) and not reapply
            return _Outcome(None, unconfirmed, missing)
        targets = tuple(dict.fromkeys(sha for sha in found if sha not in self.reverts and sha != commit.sha))
        undoes = tuple(dict.fromkeys(sha for sha in found if sha in self.reverts))
        if reapply:
            form = "reapply"
        elif undoes and not targets:
            form = "revert-of-revert"
        return _Outcome(Revert(commit.sha, targets, form, undoes, tuple(find_keys(message))), False, [])


@dataclass(frozen=True)
class _Outcome:
    revert: Revert | None
    unconfirmed: bool
    missing: list[str]


_ORDINARY = _Outcome(None, False, [])


def analyse_reverts(commits: Sequence[Commit], pulls: Sequence[PullRequest] = ()) -> RevertAnalysis:
    """Every revert on the default branch (`commits`, in the order they reached it)."""
    return _Pass(commits, pulls).run()


def revert_shas(analysis: RevertAnalysis) -> frozenset[str]:
    return frozenset(revert.sha for revert in analysis.reverts)


def is_revert(sha: str, analysis: RevertAnalysis) -> bool:
    """A revert is never a change, even when it names a key. Callers checking many SHAs should
    build `revert_shas(analysis)` once."""
    return any(revert.sha == sha for revert in analysis.reverts)


def reverted_in(analysis: RevertAnalysis, present: Container[str]) -> dict[str, str]:
    """`reverted_by` as it is where only the commits in `present` exist (a deployment): the
    same reverts, in the same order, skipping those not present."""
    shas = revert_shas(analysis)
    ledger = _Ledger(shas.__contains__)
    for revert in analysis.reverts:
        if revert.sha in present:
            ledger.apply(revert.sha, (*revert.targets, *revert.undoes))
    return ledger.reverted_by
