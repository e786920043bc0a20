"""The same facts give the same drift, whatever order and however often they arrive."""

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from connect_app.reality.drift import drift_for_keys
from connect_app.reality.history import order_branch
from connect_app.reality.model import Commit, Deployment, PullRequest, Segment
from connect_app.reality.reverts import analyse_reverts

ZERO = "0" * 40
START = datetime(2025, 1, 6, 9, tzinfo=UTC)
KEYS = [f"FEAT-{n}" for n in range(1, 31)]


class History:
    """A seeded synthetic default branch: changes of 30 keys, every revert form, re-lands,
    revert-of-reverts, Reapply, unconfirmed reverts and Revert-button pull requests."""

    def __init__(self, seed: int, size: int) -> None:
        self.rng = random.Random(seed)
        self.units: list[list[Commit]] = []
        self.pulls: list[PullRequest] = []
        self.plain: list[Commit] = []  # non-revert commits that can be reverted
        self.reverts: list[Commit] = []
        self.count = 0
        while self.count < size:
            self.step()

    def new(self, message: str, **kwargs) -> Commit:
        self.count += 1
        name = hashlib.sha1(f"commit-{self.count}".encode()).hexdigest()
        when = START + timedelta(hours=self.count)
        return Commit(name, message, timestamp=when, files=(f"src/{self.count % 17}.py",), **kwargs)

    def land(self, *commits: Commit) -> None:
        self.units.append(list(commits))

    def step(self) -> None:
        roll = self.rng.random()
        key = self.rng.choice(KEYS)
        if roll < 0.45 or not self.plain:
            change = self.new(f"{key}: step {self.count} of the work")
            self.plain.append(change)
            self.land(change)
        elif roll < 0.55:
            target = self.rng.choice(self.plain)
            length = self.rng.choice([7, 10, 40])
            revert = self.new(f'Revert "{target.subject}"\n\nThis reverts commit {target.sha[:length]}.')
            self.reverts.append(revert)
            self.land(revert)
        elif roll < 0.62:
            target = self.rng.choice(self.plain[-40:])
            revert = self.new(f'Revert "{target.subject}"')
            self.reverts.append(revert)
            self.land(revert)
        elif roll < 0.67 and self.reverts:
            undone = self.rng.choice(self.reverts)
            again = self.new(f'Revert "{undone.subject}"\n\nThis reverts commit {undone.sha}.')
            self.reverts.append(again)
            self.land(again)
        elif roll < 0.71 and self.reverts:
            undone = self.rng.choice(self.reverts)
            quoted = undone.subject.removeprefix('Revert "').removesuffix('"')
            self.land(self.new(f'Reapply "{quoted}"'))
        elif roll < 0.74:
            self.land(self.new(f"Revert {key} until the vendor answers"))
        elif roll < 0.86:
            number = len(self.pulls) + 1
            inner = [self.new(f"work item {self.count} for the pull request") for _ in range(2)]
            merge = self.new(f"Merge pull request #{number} from acme/{key.lower()}-branch-{number}",
                             brought_in=tuple(c.sha for c in inner))
            self.pulls.append(PullRequest(number, f"Work on {key}", "", f"{key.lower()}-branch-{number}",
                                          merge.sha, merge.timestamp, tuple(c.sha for c in inner)))
            self.plain.extend([*inner, merge])
            self.land(*inner, merge)
        elif self.pulls:
            original = self.rng.choice(self.pulls)
            number = len(self.pulls) + 1
            branch = f"revert-{original.number}-{original.head_ref}"
            inner = self.new(f'Revert "{original.title}"')
            merge = self.new(f"Merge pull request #{number} from acme/{branch}", brought_in=(inner.sha,))
            self.pulls.append(PullRequest(number, f'Revert "{original.title}"',
                                          f"Reverts acme/shop#{original.number}", branch, merge.sha,
                                          merge.timestamp, (inner.sha,)))
            self.reverts.extend([inner, merge])
            self.land(inner, merge)

    def segments(self) -> list[Segment]:
        """Pushes of one to four units each, chained by head."""
        segments, head, index = [], ZERO, 0
        while index < len(self.units):
            take = self.rng.randint(1, 4)
            shas = [c.sha for unit in self.units[index : index + take] for c in unit]
            segments.append(Segment(head, shas[-1], tuple(shas)))
            head, index = shas[-1], index + take
        return segments

    def commits(self) -> list[Commit]:
        return [c for unit in self.units for c in unit]

    def deployments(self) -> list[Deployment]:
        """A deployment every 60 commits, and one rollback of the last 20 of them."""
        shas = [c.sha for c in self.commits()]
        deployments = []
        for number, start in enumerate(range(0, len(shas), 60)):
            added = tuple(shas[start : start + 60])
            deployments.append(Deployment(f"d{number}", "production", added[-1],
                                          START + timedelta(days=number + 1), added))
        removed = tuple(shas[-80:-60])
        deployments.append(Deployment("rollback", "production", shas[-81],
                                      START + timedelta(days=len(deployments) + 1), (), removed))
        return deployments


def replay(history: History, segments: list[Segment]):
    by_sha = {c.sha: c for c in history.commits()}
    order = order_branch(segments)
    commits = [by_sha[sha] for sha in order]
    analysis = analyse_reverts(commits, history.pulls)
    untracked = drift_for_keys(commits, history.pulls, known_projects={"FEAT"}, analysis=analysis)
    tracked = drift_for_keys(commits, history.pulls, known_projects={"FEAT"}, analysis=analysis,
                             deployments=history.deployments())
    return order, analysis, untracked, tracked


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_replay_is_identical_for_any_arrival_order_and_duplication(seed):
    history = History(seed, 600)
    segments = history.segments()
    expected = replay(history, segments)
    order, analysis, untracked, tracked = expected

    assert order == [c.sha for c in history.commits()]
    assert len(order) >= 500
    forms = {revert.form for revert in analysis.reverts}
    assert {"sha", "subject", "revert-button", "revert-of-revert"} <= forms
    assert analysis.unconfirmed
    states = {d.state for d in untracked.values()}
    assert "live" in states and ({"reverted", "partially-reverted"} & states)
    assert "rolled-back" in {d.state for d in tracked.values()}

    rng = random.Random(seed)
    shuffled = segments[:]
    rng.shuffle(shuffled)
    assert replay(history, shuffled) == expected
    duplicated = segments + rng.sample(segments, len(segments) // 2) + segments[:5]
    rng.shuffle(duplicated)
    assert replay(history, duplicated) == expected
