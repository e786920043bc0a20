"""How revert analysis scales: 10k and 100k commits in one run, best of 3 each.

    .venv/bin/python benchmarks/reverts.py

The goal is linear cost: the 100k history may take at most 12 times as long as the 10k one.
"""

from __future__ import annotations

import gc
import hashlib
import random
import sys
import time

from connect_app.reality.model import Commit
from connect_app.reality.reverts import analyse_reverts

GOAL = 12.0


def synthetic_history(size: int, seed: int = 42) -> list[Commit]:
    """Mostly changes, with about one commit in six a revert of some form: full and abbreviated
    SHAs, subject-only, merge reverts, revert-of-revert, Reapply and unconfirmed wording."""
    rng = random.Random(seed)
    commits: list[Commit] = []
    plain: list[Commit] = []
    reverts: list[Commit] = []

    def add(message: str, **kwargs: tuple[str, ...]) -> Commit:
        sha = hashlib.sha1(f"{seed}-{len(commits)}".encode()).hexdigest()
        commit = Commit(sha, message, **kwargs)
        commits.append(commit)
        return commit

    while len(commits) < size:
        roll = rng.random()
        key = f"FEAT-{rng.randint(1, 400)}"
        if roll < 0.72 or len(plain) < 10:
            plain.append(add(f"{key}: change number {len(commits)}"))
        elif roll < 0.78:
            target = rng.choice(plain)
            length = rng.choice([7, 12, 40])
            reverts.append(add(f'Revert "{target.subject}"\n\nThis reverts commit {target.sha[:length]}.'))
        elif roll < 0.82:
            target = plain[-rng.randint(1, min(200, len(plain)))]
            reverts.append(add(f'Revert "{target.subject}"'))
        elif roll < 0.86:
            inner = [add(f"{key}: inner {len(commits)}") for _ in range(3)]
            merge = add(f"Merge pull request #{len(commits)} from acme/{key.lower()}",
                        brought_in=tuple(c.sha for c in inner))
            plain.extend([*inner, merge])
        elif roll < 0.88:
            merges = [c for c in plain[-50:] if c.brought_in]
            if merges:
                merge = merges[-1]
                reverts.append(add(f'Revert "{merge.subject}"\n\nThis reverts commit {merge.sha}, reversing\n'
                                   f"changes made to {plain[0].sha}."))
        elif roll < 0.91 and reverts:
            undone = rng.choice(reverts)
            reverts.append(add(f'Revert "{undone.subject}"\n\nThis reverts commit {undone.sha}.'))
        elif roll < 0.93 and reverts:
            undone = reverts[-1]
            add(f'Reapply "{undone.subject.removeprefix("Revert ").strip(chr(34))}"')
        else:
            add(f"Revert {key} until the vendor answers")
    return commits


def timed(history: list[Commit]) -> float:
    gc.collect()
    started = time.perf_counter()
    analyse_reverts(history)
    return time.perf_counter() - started


def main() -> int:
    small, large = synthetic_history(10_000), synthetic_history(100_000)
    # Alternate the two sizes so that a busy machine slows both alike, and keep the best of 3.
    small_times, large_times = [], []
    for _ in range(3):
        small_times.append(timed(small))
        large_times.append(timed(large))
    small_time, large_time = min(small_times), min(large_times)
    ratio = large_time / small_time
    print(f"10k commits:  {small_time * 1000:8.1f} ms (best of 3)")
    print(f"100k commits: {large_time * 1000:8.1f} ms (best of 3)")
    print(f"cost ratio 100k/10k: {ratio:.2f} (goal: at most {GOAL:g})")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
