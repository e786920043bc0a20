"""Jira calls per newly drifted Done issue (goal: 2 writes or fewer under `comment`) and per
redelivered event (goal: 0), counted on the Jira simulator for N features reverted at once.

    .venv/bin/python benchmarks/jira_calls.py [--features 20]

Counts what the app sends to Jira: writes (PUT/POST other than search and permission checks)
and reads, for the drift itself and for a full redelivery of every webhook afterwards.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from connect_app.sandbox.stack import Stack
from connect_app.sandbox.story import MONDAY


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), strict_openapi=False) as stack:
        stack.seed_jira()
        keys = [f"FEAT-{100 + i}" for i in range(args.features)]
        for key in keys:
            stack.jira.add_issue(key, f"Feature {key}", status="Done")
        stack.install()
        github = stack.start_github()
        stack.connect_repository()
        github.repo.commit("Initial", {"README.md": "shop\n"}, when=MONDAY)
        github.push_branch()
        shas = [github.push(f"{key}: ship it", {f"src/{key}.py": "ON = True\n"}, when=MONDAY) for key in keys]
        github.deploy(shas[-1], "production", when=MONDAY)
        stack.settle()

        stack.jira.reset_log()
        for sha in shas:
            github.repo.revert(sha)
        github.push_branch()
        github.deploy(github.repo.rev_parse("main"), "production")
        stack.settle()
        calls = list(stack.jira.requests_log)
        writes = stack.jira.writes()
        per_issue_writes = len(writes) / len(keys)
        per_issue_calls = len([c for c in calls if "/issue/" in c.path]) / len(keys)
        print(f"features newly reverted and Done : {len(keys)}")
        print(f"Jira writes per drifted issue     : {per_issue_writes:.2f}  (goal <= 2)")
        print(f"Jira calls per drifted issue      : {per_issue_calls:.2f}  (writes + the one read of the issue)")
        print(f"other calls for the whole batch   : {len(calls) - int(per_issue_calls * len(keys))} "
              "(project list, still-open searches)")

        stack.jira.reset_log()
        deliveries = list(github.deliveries)
        for delivery in deliveries:
            github.redeliver(delivery.guid)
        stack.settle()
        redelivered_writes = len(stack.jira.writes())
        print(f"redelivered events                : {len(deliveries)}")
        print(f"Jira writes per redelivered event : {redelivered_writes / len(deliveries):.2f}  (goal 0)")
        ok = per_issue_writes <= 2 and redelivered_writes == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
