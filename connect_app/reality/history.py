"""The order in which commits reached the default branch, whatever order the facts arrived in.

Each `Segment` moves the branch head from `before` to `after`. Chaining segments by their heads
gives the branch's history; the result depends only on the set of segments, never on the order
or the number of times they were delivered (webhook redelivery, backfill after live pushes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from connect_app.reality.model import Segment

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
