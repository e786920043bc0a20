"""The order in which commits reached the default branch, whatever order the facts arrived in.

Each `Segment` moves the branch head from `before` to `after`. Chaining segments by their heads
gives the branch's history; the result depends only on the set of segments, never on the order
or the number of times they were delivered (webhook redelivery, backfill after live pushes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from connect_app.reality.model import Commit, Segment

# GitHub's `before` for a push that created the branch.
_NO_COMMIT = "0" * 40


@dataclass(frozen=True)
class _Step:
    before: str | None
    after: str
    commits: tuple[str, ...]
    source: str

    def sort_key(self) -> tuple[int, str, tuple[str, ...]]:
        # From one head, an API step is walked before a push step: an API step that leaves a
        # head a push also leaves names commits the push payload did not list (GitHub truncates
        # long pushes), and those lie between that head and the push's commits.
        return (0 if self.source == "api" else 1, self.after, self.commits)


def _normalise(segment: Segment) -> _Step:
    before = segment.before or None
    if before == _NO_COMMIT:
        before = None
    return _Step(before, segment.after, tuple(segment.commits), segment.source)


def _resolve(segments: Iterable[Segment]) -> list[_Step]:
    """Deduplicate, and let push data win where push and API data disagree."""
    steps = {_normalise(segment) for segment in segments}
    pushes = [step for step in steps if step.source == "push"]
    pushed: set[str] = set()
    for step in pushes:
        pushed.update(step.commits)
        pushed.add(step.after)
    resolved = list(pushes)
    for step in steps:
        if step.source == "push" or step.after in pushed:
            # The push already says where this commit landed; the API's view of it is dropped.
            continue
        commits = tuple(sha for sha in step.commits if sha not in pushed)
        resolved.append(_Step(step.before, step.after, commits, step.source))
    # Two different descriptions of the same move (before, after): keep one, chosen by content.
    by_move: dict[tuple[str | None, str], _Step] = {}
    for step in sorted(resolved, key=lambda s: (s.source != "push", -len(s.commits), s.commits)):
        by_move.setdefault((step.before, step.after), step)
    return list(by_move.values())


def order_branch(segments: Iterable[Segment]) -> list[str]:
    """SHAs of the default branch in the order they reached it, each once.

    Segments are chained by head (`before` of one = `after` of another). Chains that do not
    connect are laid out one after the other: those that start with the branch's creation (or
    the repository's first commit) first, then by their first SHA, so the result never depends
    on arrival order. A head reached again (a force push back to an older commit) does not
    repeat its commits.
    """
    steps = _resolve(segments)
    leaving: dict[str | None, list[_Step]] = {}
    arriving: set[str] = set()
    for step in steps:
        leaving.setdefault(step.before, []).append(step)
        arriving.add(step.after)
    for outgoing in leaving.values():
        outgoing.sort(key=_Step.sort_key)

    def chain_start_key(head: str | None) -> tuple[int, str]:
        first = leaving[head][0]
        first_sha = first.commits[0] if first.commits else first.after
        return (0 if head is None else 1, first_sha)

    roots = sorted((head for head in leaving if head is None or head not in arriving), key=chain_start_key)
    order: dict[str, None] = {}
    walked: set[int] = set()

    def walk(head: str | None) -> None:
        # Depth first, iteratively: histories of 100k single-commit steps are common.
        stack: list[Iterator[_Step]] = [iter(leaving.get(head, ()))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            if id(step) in walked:
                continue
            walked.add(id(step))
            for sha in step.commits:
                order.setdefault(sha, None)
            order.setdefault(step.after, None)
            stack.append(iter(leaving.get(step.after, ())))

    for root in roots:
        walk(root)
    # Heads that are only reachable through a cycle (force pushes back and forth).
    remaining = sorted(
        (step for step in steps if id(step) not in walked),
        key=lambda s: (s.before or "", *s.sort_key()),
    )
    for step in remaining:
        if id(step) not in walked:
            walk(step.before)
    return list(order)


def difference_on_branch(branch: list[str], base: str | None,
                         head: str) -> tuple[list[str], list[str]] | None:
    """Without API access, positions on the recorded default branch tell ahead from behind:
    what `head` added to and removed from `base`. None while the deployed SHA has not reached
    us through a push yet."""
    position = {sha: i for i, sha in enumerate(branch)}
    head_at = _position(position, head)
    if head_at is None:
        return None
    if base is None:
        return branch[: head_at + 1], []
    base_at = _position(position, base)
    if base_at is None:
        return branch[: head_at + 1], []
    if head_at >= base_at:
        return branch[base_at + 1: head_at + 1], []
    return [], branch[head_at + 1: base_at + 1]


def _position(position: Mapping[str, int], sha: str) -> int | None:
    if sha in position:
        return position[sha]
    matches = [i for s, i in position.items() if s.startswith(sha.lower())]
    return matches[0] if len(matches) == 1 else None


class ParentCycle(ValueError):
    """A commit is its own first-parent ancestor: no git history looks like that."""

    def __init__(self, sha: str) -> None:
        super().__init__(f"the history's first parents form a cycle through commit {sha[:12]}")
        self.sha = sha


def first_parent_steps(commits: Iterable[Commit], head: str) -> list[tuple[Commit, tuple[str, ...]]]:
    """Oldest first: each first-parent commit with the commits its merge brought in (oldest first).

    `commits` is every commit reachable from `head` (any order) with parents known. Parents come
    from outside (a repository API), so they may form a cycle no real history has: a first-parent
    chain that comes back to a commit already on it raises `ParentCycle` instead of walking on
    forever, and the walks through merged branches visit each commit once.
    """
    by_sha = {c.sha: c for c in commits}
    chain: list[str] = []
    mainline: set[str] = set()
    sha: str | None = head
    while sha is not None and sha in by_sha:
        if sha in mainline:
            raise ParentCycle(sha)
        chain.append(sha)
        mainline.add(sha)
        parents = by_sha[sha].parents
        sha = parents[0] if parents else None
    claimed: set[str] = set()
    steps: list[tuple[Commit, tuple[str, ...]]] = []
    for sha in reversed(chain):
        commit = by_sha[sha]
        brought: list[str] = []
        stack = list(commit.parents[1:])
        while stack:
            current = stack.pop()
            if current in mainline or current in claimed or current not in by_sha:
                continue
            claimed.add(current)
            brought.append(current)
            stack.extend(by_sha[current].parents)
        # Oldest first, as GitHub lists a merged branch's commits in a push.
        brought.sort(key=lambda s: (by_sha[s].timestamp or datetime.min, s))
        steps.append((commit, tuple(brought)))
    return steps
