"""Configuration changes as drift (INTERFACES 4), the one place the rule is written.

A configuration `reverted` in a production environment makes every issue it names `rolled-back`
until a later `applied` change naming that issue in the same environment restores it. Pure.

Decisions where the contract leaves room:
- Order is `changed_at`, then arrival: two reports of the same instant count in the order they
  reached the app, never in the order a worker happened to record them.
- Environment names compare case-insensitively, as production names do everywhere else.
- Each issue is judged on its own: an `applied` change naming only FEAT-1 restores FEAT-1, not
  the FEAT-2 that the earlier `reverted` change also named.
- A second `reverted` while an issue is already rolled back in that environment changes nothing:
  the rollback (its time, its cause, the comment it owes) is the first one's until an `applied`
  change ends it.
- Rolled back in several production environments at once, the earliest rollback is the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connect_app.reality.model import ConfigChange


def in_order(changes: Iterable[ConfigChange]) -> list[ConfigChange]:
    return sorted(changes, key=lambda change: (change.changed_at, change.arrival))


@dataclass(frozen=True)
class ConfigStanding:
    """What production configuration says about one issue."""

    # The rollbacks in effect, one per production environment, earliest first.
    rolled_back: tuple[ConfigChange, ...]
    # With none in effect: the latest `applied` change that ended a rollback, if any did.
    restored: ConfigChange | None


def config_standing(key: str, changes: Sequence[ConfigChange]) -> ConfigStanding:
    current: dict[str, ConfigChange] = {}  # environment -> the change that set its state
    restored: ConfigChange | None = None
    for change in in_order(c for c in changes if c.production and key in c.issue_keys):
        environment = change.environment.lower()
        previous = current.get(environment)
        if change.change == "reverted":
            if previous is None or previous.change != "reverted":
                current[environment] = change
        else:
            if previous is not None and previous.change == "reverted":
                restored = change
            current[environment] = change
    rolled_back = tuple(in_order(c for c in current.values() if c.change == "reverted"))
    return ConfigStanding(rolled_back, None if rolled_back else restored)


def by_issue(changes: Iterable[ConfigChange]) -> dict[str, list[ConfigChange]]:
    """Production configuration changes per issue they name: the issues whose drift they can
    decide, each with only its own changes (a tenant's history holds every sync ever reported,
    and each of thousands of issues must not scan all of it)."""
    found: dict[str, list[ConfigChange]] = {}
    for change in changes:
        if change.production:
            for key in change.issue_keys:
                found.setdefault(key, []).append(change)
    return found


def news_for(key: str, changes: Iterable[ConfigChange]) -> list[ConfigChange]:
    """The changes naming `key` worth showing on its timeline, in any environment: every
    `reverted`, and an `applied` only where it ended a rollback. A tool such as Argo CD reports
    every routine sync as `applied`; those change nothing and would bury what did."""
    reverted: set[str] = set()  # environments where the latest change naming the key reverted
    shown = []
    for change in in_order(c for c in changes if key in c.issue_keys):
        environment = change.environment.lower()
        if change.change == "reverted":
            reverted.add(environment)
            shown.append(change)
        elif environment in reverted:
            reverted.discard(environment)
            shown.append(change)
    return shown


def config_title(change: ConfigChange) -> str:
    """A timeline line: `Configuration reverted: Payment retries back to v1`."""
    return f"Configuration {change.change}: {change.description}".rstrip(": ")
