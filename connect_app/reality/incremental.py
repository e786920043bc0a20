"""The part of a repository's revert analysis one issue needs, found through an index instead of
by walking every revert for every issue.

A revert matters to an issue when it reverts one of the issue's commits, or undoes (or reverts)
a revert that matters: a closure reached from the issue's commits through the reverts' targets
and undoes. Every rule in `drift` and `reverts` that looks at reverts for an issue only ever sees
reverts in that closure, so handing those rules the closure (in branch order) instead of every
revert gives the same answer, in time proportional to the issue rather than to the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connect_app.reality.model import Revert, RevertAnalysis, UnconfirmedRevert


@dataclass(frozen=True)
class RevertIndex:
    analysis: RevertAnalysis
    # SHA -> indexes (in `analysis.reverts`) of the reverts whose targets or undoes name it.
    touching: Mapping[str, tuple[int, ...]]
    unconfirmed_by_key: Mapping[str, tuple[UnconfirmedRevert, ...]]

    @classmethod
    def of(cls, analysis: RevertAnalysis) -> RevertIndex:
        touching: dict[str, list[int]] = {}
        for index, revert in enumerate(analysis.reverts):
            for sha in dict.fromkeys((*revert.targets, *revert.undoes)):
                touching.setdefault(sha, []).append(index)
        by_key: dict[str, list[UnconfirmedRevert]] = {}
        for unconfirmed in analysis.unconfirmed:
            for key in dict.fromkeys(unconfirmed.keys):
                by_key.setdefault(key, []).append(unconfirmed)
        return cls(analysis, {sha: tuple(found) for sha, found in touching.items()},
                   {key: tuple(found) for key, found in by_key.items()})

    def reverts_reaching(self, shas: Iterable[str]) -> tuple[Revert, ...]:
        """The reverts reached from these commits through targets and undoes, in branch order."""
        seen: set[int] = set()
        stack = list(dict.fromkeys(shas))
        while stack:
            for index in self.touching.get(stack.pop(), ()):
                if index not in seen:
                    seen.add(index)
                    stack.append(self.analysis.reverts[index].sha)
        return tuple(self.analysis.reverts[index] for index in sorted(seen))

    def for_issue(self, key: str, shas: Iterable[str]) -> RevertAnalysis:
        """The analysis as one issue (its commits `shas`, key `key`) sees it."""
        return RevertAnalysis(
            reverts=self.reverts_reaching(shas),
            unconfirmed=self.unconfirmed_by_key.get(key, ()),
            reverted_by=self.analysis.reverted_by,  # read only: shared, not copied
            unresolved=(),
        )
