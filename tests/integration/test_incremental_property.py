"""Incremental reality gives exactly the full recomputation's answers (issue 10 item 1).

Two databases receive the same random history, fact by fact: one is recomputed as the app does
it (a push asks for the fast path, which extends the stored derived state and judges only the
issues the push names, falling back to the full pass whenever it cannot place what arrived), the
other always in full. After every event every issue's stored reality (state, since, changes,
reverted, environment, cause) and its stored timeline must be the same in both.

Histories hold changes, every revert form (SHA, subject only, revert of a revert, Reapply,
unconfirmed), merges, hotfixes, deployments with rollbacks, flags, Done issues, pushes delivered
out of order, redelivered, or several before one recomputation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from connect_app.config import load_settings
from connect_app.intake.parse import FlagChange
from connect_app.jobs import recompute
from connect_app.jobs.recompute import recompute_tenant
from connect_app.reality.history import difference_on_branch
from connect_app.reality.model import Commit, Segment
from connect_app.services import Services
from connect_app.store.db import transaction, upgrade
from connect_app.store.facts import keys_a_flag_change_touches, record_commit, record_flag, record_segment
from connect_app.store.models import Base, Connection, DeploymentFact, IssueEvent, IssueReality, Tenant

KEYS = ("FEAT-1", "FEAT-2", "OPS-4")
FILES = ("src/a.py", "src/b.py", "src/c.py", "src/d.py")
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CONNECTION = "c1"


KEPT = ("tenants", "connections", "alembic_version")


@functools.cache
def _services(name: str) -> Services:
    """One database per side for the whole run, emptied between examples: a new engine per
    example would spend the time compiling the same statements again."""
    scratch = Path(tempfile.mkdtemp(prefix="incremental-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    url = f"sqlite:///{scratch / name}.db"
    upgrade(url)
    settings = load_settings({"DATABASE_URL": url, "APP_SECRET_KEY": "k" * 40,
                              "INSTANCE_PATH": str(scratch / "instance")})
    svc = Services.build(settings)
    with transaction(svc.sessions) as session:
        session.add(Tenant(id=1, client_key=name, base_url="https://example.atlassian.net",
                           shared_secret_sealed=svc.box.seal("s" * 40), known_projects=["FEAT", "OPS"],
                           known_projects_at=datetime(2100, 1, 1, tzinfo=UTC), settings={}))
        session.flush()
        session.add(Connection(id=CONNECTION, tenant_id=1, repository="acme/shop", api_url="https://api.github.com",
                               webhook_secret_sealed="x", deploy_token_digest="d" * 64))
    return svc


def _empty(svc: Services) -> Services:
    with transaction(svc.sessions) as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT:
                session.execute(delete(table))
    return svc


@dataclasses.dataclass
class Story:
    """The repository as it really is, and what has been delivered of it."""

    branch: list[Commit] = dataclasses.field(default_factory=list)  # pushed, in order
    pending: list[Commit] = dataclasses.field(default_factory=list)  # committed, not pushed yet
    held: list[Segment] = dataclasses.field(default_factory=list)  # pushed, delivery delayed
    delivered: list[Segment] = dataclasses.field(default_factory=list)
    deployed: str | None = None
    clock: int = 0
    count: int = 0

    def tick(self) -> datetime:
        self.clock += 1
        return START + timedelta(minutes=self.clock)

    def commit(self, message: str, files: tuple[str, ...], brought_in: tuple[str, ...] = ()) -> Commit:
        self.count += 1
        sha = hashlib.sha1(f"commit {self.count}".encode()).hexdigest()
        made = Commit(sha=sha, message=message, timestamp=self.tick(), files=files, brought_in=brought_in,
                      url=f"https://github.com/acme/shop/commit/{sha}")
        self.pending.append(made)
        return made

    def known(self) -> list[Commit]:
        return self.branch + self.pending


class World:
    """Both databases, fed the same facts."""

    def __init__(self) -> None:
        self.fast = _empty(_services("fast"))
        self.full = _empty(_services("full"))
        self.story = Story()
        self.fast_paths = 0

    def record(self, write: Any) -> None:
        for svc in (self.fast, self.full):
            with transaction(svc.sessions) as session:
                write(session)

    def recompute(self, *, push: bool, keys: tuple[str, ...] = (),
                  deployments: tuple[tuple[str, int], ...] = ()) -> None:
        recompute_tenant(self.fast, 1, push=push, keys=keys, deployments=deployments)
        recompute_tenant(self.full, 1)

    def deliver(self, segment: Segment, commits: list[Commit]) -> None:
        def write(session: Any) -> None:
            for commit in commits:
                record_commit(session, CONNECTION, commit)
            record_segment(session, CONNECTION, segment)
        self.record(write)
        self.story.delivered.append(segment)

    def snapshot(self, svc: Services) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        with svc.sessions() as session:
            realities = {r.issue_key: (r.desired, r.state, r.since, r.change_id)
                         for r in session.scalars(select(IssueReality))}
            events: dict[str, list[Any]] = {}
            for e in session.scalars(select(IssueEvent).order_by(IssueEvent.issue_key, IssueEvent.seq)):
                events.setdefault(e.issue_key, []).append((e.seq, e.kind, e.at, e.title, e.sha, e.url, e.environment))
        return realities, events

    def agree(self) -> None:
        fast, full = self.snapshot(self.fast), self.snapshot(self.full)
        assert fast[0] == full[0], "issue reality differs"
        assert fast[1] == full[1], "timelines differ"


# ---- events ---------------------------------------------------------------------------------


def _change(world: World, key: int, files: list[int], hotfix: bool) -> None:
    named = f"{KEYS[key]}: work {world.story.count}" if key < len(KEYS) else f"Tidy up {world.story.count}"
    message = f"hotfix: {named.lower()}" if hotfix and key >= len(KEYS) else named
    world.story.commit(message, tuple(sorted({FILES[f] for f in files})))


def _revert(world: World, pick: int, form: str) -> None:
    known = world.story.known()
    if not known:
        return
    target = known[pick % len(known)]
    subject = target.message.split("\n", 1)[0]
    if form == "sha":
        message = f'Revert "{subject}"\n\nThis reverts commit {target.sha}.'
    elif form == "subject":
        message = f'Revert "{subject}"'
    elif form == "reapply" and subject.startswith('Revert "'):
        message = f'Reapply "{subject[8:-1]}"\n\nThis reverts commit {target.sha}.'
    elif form == "unconfirmed":
        message = f"Revert {KEYS[pick % len(KEYS)]} again"
    else:
        message = f'Revert "{subject}"\n\nThis reverts commit {target.sha[:10]}.'
    world.story.commit(message, target.files)


def _merge(world: World, key: int, count: int) -> None:
    inner = tuple(c.sha for c in world.story.pending[-count:]) if count else ()
    name = KEYS[key].lower() if key < len(KEYS) else "tidy"
    world.story.commit(f"Merge pull request #{world.story.count} from acme/{name}-branch\n\n{KEYS[key % len(KEYS)]}"
                       if key < len(KEYS) else f"Merge pull request #{world.story.count} from acme/tidy", (),
                       brought_in=inner)


def _push(world: World, hold: bool, settle: bool) -> None:
    story = world.story
    if not story.pending:
        return
    before = story.branch[-1].sha if story.branch else None
    commits, story.pending = story.pending, []
    story.branch += commits
    segment = Segment(before=before, after=commits[-1].sha, commits=tuple(c.sha for c in commits))
    if hold:
        story.held.append(segment)  # delivered later, after the next push: out of order
        return
    _deliver(world, segment, settle)
    while story.held:
        _deliver(world, story.held.pop(), settle)


def _deliver(world: World, segment: Segment, settle: bool) -> None:
    by_sha = {c.sha: c for c in world.story.branch}
    world.deliver(segment, [by_sha[sha] for sha in segment.commits])
    if settle:
        world.recompute(push=True)


def _redeliver(world: World) -> None:
    if world.story.delivered:
        segment = world.story.delivered[-1]
        by_sha = {c.sha: c for c in world.story.branch}
        world.deliver(segment, [by_sha[sha] for sha in segment.commits])
        world.recompute(push=True)


def _deploy(world: World, back: int) -> None:
    story = world.story
    delivered = {sha for s in story.delivered for sha in (*s.commits, s.after)}
    branch = [c.sha for c in story.branch if c.sha in delivered]
    if not branch:
        return
    sha = branch[max(0, len(branch) - 1 - back)]
    added, removed = difference_on_branch(branch, story.deployed, sha) or ([], [])
    at = story.tick()

    made: list[int] = []

    def write(session: Any) -> None:
        row = DeploymentFact(connection_id=CONNECTION, source="ci", external_id=f"d{story.clock}",
                             environment="production", sha=sha, status="success", deployed_at=at,
                             compared=True, compared_base=story.deployed, added=added, removed=removed)
        session.add(row)
        session.flush()
        made.append(row.id)
    world.record(write)
    story.deployed = sha
    world.recompute(push=True, deployments=((CONNECTION, made[0]),))  # as the comparison asks


def _flag(world: World, key: int, on: bool) -> None:
    change = FlagChange(key=f"{KEYS[key].lower()}-toggle", name=f"{KEYS[key]} toggle", environment="production",
                        on=on, changed_at=world.story.tick())

    touched: set[str] = set()

    def write(session: Any) -> None:
        connection = session.get(Connection, CONNECTION)
        touched.update(keys_a_flag_change_touches(session, connection, "generic", change, {}))
        record_flag(session, connection, "generic", change)
    world.record(write)
    world.recompute(push=True, keys=tuple(sorted(touched)))


def _done(world: World, key: int) -> None:
    at = world.story.tick()

    def write(session: Any) -> None:
        row = session.scalar(select(IssueReality).where(IssueReality.issue_key == KEYS[key]))
        if row is not None:
            row.done_at = at
    world.record(write)
    world.recompute(push=False)


CHANGE = st.tuples(st.just("change"), st.integers(0, len(KEYS)), st.lists(st.integers(0, 3), max_size=2),
                   st.booleans())
COMMITS = st.one_of(
    CHANGE, CHANGE, CHANGE,
    st.tuples(st.just("revert"), st.integers(0, 40), st.sampled_from(["sha", "short", "subject", "reapply",
                                                                      "unconfirmed"])),
    st.tuples(st.just("merge"), st.integers(0, len(KEYS)), st.integers(0, 2)),
)
PUSH = st.sampled_from([("push", False, True), ("push", False, True), ("push", False, True),
                        ("push", True, True), ("push", False, False)])  # settled, out of order, batched
DEPLOY = st.tuples(st.just("deploy"), st.integers(0, 3))
EXTRA = st.one_of(
    st.tuples(st.just("redeliver")),
    DEPLOY, DEPLOY,
    st.tuples(st.just("flag"), st.integers(0, len(KEYS) - 1), st.booleans()),
    st.tuples(st.just("done"), st.integers(0, len(KEYS) - 1)),
)
# A round: a few commits, their push, sometimes something else (a deployment, a flag, ...).
ROUNDS = st.lists(st.tuples(st.lists(COMMITS, min_size=1, max_size=3), PUSH, st.one_of(st.none(), EXTRA, EXTRA)),
                  min_size=1, max_size=10)


def flatten(rounds: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [event for commits, push, extra in rounds for event in (*commits, push, *([extra] if extra else []))]


HANDLERS: dict[str, Any] = {"change": _change, "revert": _revert, "merge": _merge, "push": _push,
                            "redeliver": _redeliver, "deploy": _deploy, "flag": _flag, "done": _done}


@contextmanager
def counting_fast_paths(world: World) -> Iterator[None]:
    original = recompute.extend_and_judge

    def counted(*args: Any, **kwargs: Any) -> Any:
        judged = original(*args, **kwargs)
        world.fast_paths += judged is not None
        return judged
    recompute.extend_and_judge = counted  # type: ignore[assignment]
    try:
        yield
    finally:
        recompute.extend_and_judge = original  # type: ignore[assignment]


def play(events: list[tuple[Any, ...]]) -> World:
    world = World()
    with counting_fast_paths(world):
        for kind, *args in events:
            HANDLERS[kind](world, *args)
            world.agree()
        _push(world, False, True)
        world.agree()
    return world


@settings(max_examples=30, deadline=None)
@given(rounds=ROUNDS)
def test_incremental_and_full_agree_on_random_histories(rounds: list[tuple[Any, ...]]) -> None:
    play(flatten(rounds))


def test_a_plain_push_takes_the_fast_path_and_agrees() -> None:
    world = play([("change", 0, [0], False), ("push", False, True), ("deploy", 0),
                            ("change", 1, [1], False), ("change", 0, [2], False), ("push", False, True),
                            ("revert", 0, "sha"), ("push", False, True), ("change", 0, [1], False),
                            ("push", False, True)])
    assert world.fast_paths == 2, "the two pushes of ordinary commits onto the known tip"
    realities, events = world.snapshot(world.fast)
    assert realities["FEAT-1"][1] == "live", "its first change is deployed; the revert is not"
    assert realities["FEAT-2"][1] == "pending-deploy"
    assert [e[1] for e in events["FEAT-1"]] == ["commit", "deployment", "commit", "revert", "commit"]


def test_a_flag_change_takes_the_fast_path_and_agrees() -> None:
    world = play([("change", 0, [0], False), ("push", False, True), ("flag", 0, False), ("flag", 0, True),
                  ("flag", 1, False)])
    assert world.fast_paths == 3, "each flag change judges only the issues it names"
    realities, events = world.snapshot(world.fast)
    assert realities["FEAT-1"][1] == "live" and realities["FEAT-2"][1] == "flag-off"
    # Both toggles stay on the timeline (off, then on again), not only the flag's state now.
    assert [e[1] for e in events["FEAT-1"]] == ["commit", "flag", "flag"]


def test_a_later_deployment_takes_the_fast_path_and_agrees() -> None:
    world = play([("change", 0, [0], False), ("push", False, True), ("deploy", 0), ("change", 1, [1], False),
                  ("push", False, True), ("deploy", 0), ("change", 0, [2], False), ("push", False, True),
                  ("deploy", 2)])
    assert world.fast_paths == 4, "the first deployment starts tracking: the full pass; the later ones do not"
    realities, events = world.snapshot(world.fast)
    assert realities["FEAT-1"][1] == "live" and realities["FEAT-2"][1] == "rolled-back"
    assert [e[1] for e in events["FEAT-2"]] == ["commit", "deployment", "rollback"]


def test_pushes_delivered_out_of_order_fall_back_and_agree() -> None:
    world = play([("change", 0, [0], False), ("push", False, True), ("change", 0, [1], False),
                  ("push", True, True), ("change", 0, [2], False), ("push", False, True)])
    assert world.fast_paths == 0, "the later push arrived first: only the full pass can place it"
    realities, _ = world.snapshot(world.fast)
    assert realities["FEAT-1"][0]["changes"] == 3


def test_a_push_waiting_behind_a_deployment_comparison_keeps_its_fast_path() -> None:
    """Every push queues a comparison of deployments too: the push's recomputation, deferred
    behind it, must come back as a push's (the fast path), not as a full pass over the history
    (benchmarks/scale.py measured 38 s a push at 100k commits when it did)."""
    from connect_app.jobs.kinds import RECOMPUTE, queue_deployment_compare
    from connect_app.store.models import Job

    svc = _empty(_services("behind"))
    asked = [{"tenant_id": 1, "push": True}, {"tenant_id": 1, "push": True, "keys": ["FEAT-1"]},
             {"tenant_id": 1, "push": True, "deployments": [[CONNECTION, 7]]}, {"tenant_id": 1}]
    for payload in asked:
        with transaction(svc.sessions) as session:
            queue_deployment_compare(session, CONNECTION, 1)
        recompute_tenant(svc, 1, push=bool(payload.get("push")), keys=tuple(payload.get("keys", ())),
                         deployments=[(str(c), int(d)) for c, d in payload.get("deployments", ())])
        with transaction(svc.sessions) as session:
            again = list(session.scalars(select(Job).where(Job.kind == RECOMPUTE, Job.status == "queued")))
            assert [job.payload for job in again] == [payload]
            session.execute(delete(Job))
