"""Parents come from outside: a first-parent chain that loops ends with ParentCycle, and merged
branches whose parents loop are walked once, never for ever."""

from __future__ import annotations

import pytest

from connect_app.reality.history import ParentCycle, first_parent_steps
from connect_app.reality.model import Commit


def _c(sha: str, *parents: str) -> Commit:
    return Commit(sha=sha * 40, message=sha, parents=tuple(p * 40 for p in parents))


def test_a_commit_that_is_its_own_first_parent_is_refused() -> None:
    with pytest.raises(ParentCycle):
        first_parent_steps([_c("a", "a")], "a" * 40)


def test_a_longer_first_parent_cycle_is_refused() -> None:
    with pytest.raises(ParentCycle):
        first_parent_steps([_c("a", "b"), _c("b", "c"), _c("c", "a")], "a" * 40)


def test_a_cycle_inside_a_merged_branch_is_walked_once() -> None:
    commits = [_c("m", "r", "x"), _c("x", "y"), _c("y", "x"), _c("r")]
    steps = first_parent_steps(commits, "m" * 40)
    assert [c.sha[0] for c, _ in steps] == ["r", "m"]
    assert sorted(s[0] for s in steps[1][1]) == ["x", "y"]
