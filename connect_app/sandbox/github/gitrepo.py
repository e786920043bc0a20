"""A real git repository driven through the `git` CLI, for the GitHub simulator and tests.

Every commit gets a fixed author/committer and a date from a deterministic clock, so the same
script always produces the same SHAs. Messages are git's own (a real `git revert` writes the
revert message), which is the point: the app must understand what git and GitHub really write.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

DEFAULT_AUTHOR = "Sandbox Developer <dev@example.com>"
DEFAULT_START = datetime(2024, 1, 1, 9, 0, 0, tzinfo=UTC)

_PERSON = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^>]*)>$")
_RAW_PERSON = re.compile(r"^(?P<name>.*?) <(?P<email>[^>]*)> (?P<epoch>-?\d+) (?P<tz>[+-]\d{4})$")


class GitError(RuntimeError):
    """A git command failed; carries git's own stderr."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: datetime


@dataclass(frozen=True)
class FileChange:
    """One file a commit touched, against its first parent (GitHub's view of a merge too)."""

    path: str
    status: str  # GitHub's words: added, removed, modified, renamed
    additions: int
    deletions: int
    blob_sha: str
    previous_path: str | None = None

    @property
    def changes(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str
    files: tuple[FileChange, ...] = ()

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]


def _parse_person(text: str) -> tuple[str, str]:
    match = _PERSON.match(text.strip())
    if not match:
        raise ValueError(f"author must look like 'Name <email>', got {text!r}")
    return match.group("name"), match.group("email")


def _git_date(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()


def _parse_raw_person(text: str) -> Person:
    match = _RAW_PERSON.match(text)
    if not match:
        raise GitError(f"unreadable person line {text!r}")
    tz_text = match.group("tz")
    sign = -1 if tz_text[0] == "-" else 1
    offset = timedelta(hours=int(tz_text[1:3]), minutes=int(tz_text[3:5])) * sign
    date = datetime.fromtimestamp(int(match.group("epoch")), tz=timezone(offset))
    return Person(match.group("name"), match.group("email"), date)


_STATUS_WORDS = {"A": "added", "D": "removed", "M": "modified", "T": "modified", "R": "renamed", "C": "added"}


class GitRepo:
    """A working repository at `path` (created when missing), branch `main` by default."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        author: str = DEFAULT_AUTHOR,
        start: datetime = DEFAULT_START,
        step: timedelta = timedelta(minutes=1),
        default_branch: str = "main",
    ) -> None:
        self.path = Path(path)
        self.default_branch = default_branch
        self._author = _parse_person(author)
        self._now = start
        self._step = step
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / ".git").exists():
            self._git("-c", f"init.defaultBranch={default_branch}", "init", "-q")

    # --- plumbing ---------------------------------------------------------------------------

    def _env(self, author: str | None, when: datetime | None) -> dict[str, str]:
        name, email = _parse_person(author) if author else self._author
        date = _git_date(when or self._now)
        env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_") and key not in ("EMAIL",)}
        env.update(
            {
                # Isolate from the machine's git config so runs are identical everywhere.
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email,
                "GIT_AUTHOR_DATE": date,
                "GIT_COMMITTER_DATE": date,
                "GIT_EDITOR": "true",
                "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C",
            }
        )
        return env

    def _git(
        self,
        *args: str,
        author: str | None = None,
        when: datetime | None = None,
        input_text: str | None = None,
        check: bool = True,
    ) -> str:
        result = subprocess.run(  # noqa: S603 - fixed executable, arguments never go through a shell
            ["git", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],  # noqa: S607
            cwd=self.path,
            env=self._env(author, when),
            input=input_text,
            capture_output=True,
            text=True,
            encoding="utf-8",
        )
        if check and result.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def tick(self, when: datetime | None = None) -> datetime:
        """The date of the next commit or event: `when` if given (the clock never runs back),
        else one step after the last one."""
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            self._now = max(self._now, when)
            return when
        self._now = self._now + self._step
        return self._now

    @property
    def now(self) -> datetime:
        """The date the last commit was given (the simulator stamps events with it)."""
        return self._now

    def advance_clock(self, to: datetime) -> None:
        """Move the clock forward (never backward) so later commits and events come after `to`."""
        if to.tzinfo is None:
            to = to.replace(tzinfo=UTC)
        self._now = max(self._now, to)

    # --- writing history --------------------------------------------------------------------

    def commit(
        self,
        message: str,
        files: Mapping[str, str | None] | None = None,
        *,
        author: str | None = None,
        when: datetime | None = None,
    ) -> str:
        """Write `files` (path -> content; None deletes the file) and commit them on the current
        branch. With no files the commit is empty. Returns the new SHA."""
        # One git command per kind of change, not per file: tests write histories of hundreds of
        # commits, and each git process costs tens of milliseconds on a busy machine.
        written = {rel: content for rel, content in (files or {}).items() if content is not None}
        removed = [rel for rel, content in (files or {}).items() if content is None]
        if removed:
            self._git("rm", "-q", "--", *removed)
        for rel, content in written.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if written:
            self._git("add", "--", *written)
        date = self.tick(when)
        self._git("commit", "-q", "--allow-empty", "-F", "-", author=author, when=date, input_text=message)
        return self._head()

    def _head(self) -> str:
        """HEAD's SHA, read from the files git keeps it in rather than by another git process."""
        git_dir = self.path / ".git"
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head  # detached
        ref = git_dir / head.removeprefix("ref: ")
        if ref.is_file():
            return ref.read_text(encoding="utf-8").strip()
        return self.rev_parse("HEAD")  # a packed ref

    def branch(self, name: str, from_: str | None = None) -> None:
        self._git("branch", name, from_ or "HEAD")

    def checkout(self, name: str) -> None:
        self._git("checkout", "-q", name)

    def current_branch(self) -> str:
        return self._git("symbolic-ref", "--short", "HEAD").strip()

    def merge(
        self,
        branch: str,
        message: str,
        *,
        no_ff: bool = True,
        author: str | None = None,
        when: datetime | None = None,
    ) -> str:
        """Merge `branch` into the current branch (a merge commit unless `no_ff=False` allows a
        fast-forward). Returns the new HEAD."""
        date = self.tick(when)
        mode = "--no-ff" if no_ff else "--ff"
        self._git("merge", "-q", mode, "-m", message, branch, author=author, when=date)
        return self.rev_parse("HEAD")

    def squash_merge(
        self, branch: str, message: str, *, author: str | None = None, when: datetime | None = None
    ) -> str:
        """One commit on the current branch with the combined changes of `branch`."""
        date = self.tick(when)
        self._git("merge", "-q", "--squash", branch, author=author, when=date)
        self._git("commit", "-q", "--allow-empty", "-F", "-", author=author, when=date, input_text=message)
        return self.rev_parse("HEAD")

    def revert(
        self,
        sha: str,
        *,
        mainline: int | None = None,
        message: str | None = None,
        no_edit: bool = True,
        author: str | None = None,
        when: datetime | None = None,
    ) -> str:
        """A real `git revert` on the current branch, so the message is git's own unless
        `message` replaces it (as GitHub's Revert button does)."""
        date = self.tick(when)
        args = ["revert"]
        if no_edit:
            args.append("--no-edit")
        if mainline is not None:
            args += ["-m", str(mainline)]
        self._git(*args, sha, author=author, when=date)
        if message is not None:
            self._git(
                "commit",
                "-q",
                "--amend",
                "--allow-empty",
                "-F",
                "-",
                author=author,
                when=date,
                input_text=message,
            )
        return self.rev_parse("HEAD")

    def reset_branch(self, name: str, sha: str) -> None:
        """Point branch `name` at `sha` (what a force push or a rollback of a branch does)."""
        if self.current_branch() == name:
            self._git("reset", "-q", "--hard", sha)
        else:
            self._git("branch", "-f", name, sha)

    def tag(self, name: str, sha: str = "HEAD") -> None:
        self._git("tag", name, sha)

    # --- reading history --------------------------------------------------------------------

    def rev_parse(self, ref: str) -> str:
        return self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip()

    def resolve(self, ref: str) -> str | None:
        """The commit SHA `ref` names (branch, tag, full or abbreviated SHA), or None."""
        if ref.startswith("-"):
            return None
        out = self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
        return out or None

    def branches(self) -> list[str]:
        return self._git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()

    def log_first_parent(self, ref: str, *, reverse: bool = False) -> list[str]:
        """SHAs on the first-parent chain of `ref`, newest first like `git log` (oldest first
        with `reverse=True`)."""
        args = ["rev-list", "--first-parent"]
        if reverse:
            args.append("--reverse")
        return self._git(*args, ref).split()

    def rev_list(self, a: str | None, b: str, *, reverse: bool = False) -> list[str]:
        """Commits reachable from `b` but not from `a` (all of `b`'s history when `a` is None),
        newest first like `git rev-list`, oldest first with `reverse=True`. Parents always come
        after their children (before them when reversed)."""
        args = ["rev-list", "--date-order"]
        if reverse:
            args.append("--reverse")
        args.append(b)
        if a is not None:
            args += ["--not", a]
        return self._git(*args).split()

    def merge_base(self, a: str, b: str) -> str | None:
        out = self._git("merge-base", a, b, check=False).strip()
        return out or None

    def is_ancestor(self, a: str, b: str) -> bool:
        """Whether `a` is reachable from `b` (a commit is its own ancestor)."""
        result = subprocess.run(  # noqa: S603
            ["git", "merge-base", "--is-ancestor", a, b],  # noqa: S607
            cwd=self.path,
            env=self._env(None, None),
            capture_output=True,
        )
        return result.returncode == 0

    def commit_infos(self, shas: Iterable[str]) -> list[CommitInfo]:
        """Metadata of many commits in one `git cat-file --batch` (no file lists)."""
        wanted = list(shas)
        if not wanted:
            return []
        result = subprocess.run(
            ["git", "cat-file", "--batch"],  # noqa: S607
            cwd=self.path,
            env=self._env(None, None),
            input=("\n".join(wanted) + "\n").encode(),
            capture_output=True,
        )
        if result.returncode != 0:
            raise GitError(result.stderr.decode(errors="replace"))
        data = result.stdout
        infos: list[CommitInfo] = []
        pos = 0
        for requested in wanted:
            header_end = data.index(b"\n", pos)
            header = data[pos:header_end].decode()
            parts = header.split()
            if len(parts) < 3 or parts[1] != "commit":
                raise GitError(f"{requested} is not a commit ({header})")
            size = int(parts[2])
            body = data[header_end + 1 : header_end + 1 + size].decode("utf-8", errors="replace")
            pos = header_end + 1 + size + 1
            infos.append(_parse_commit_object(parts[0], body))
        return infos

    def commit_info(self, sha: str, *, with_files: bool = True) -> CommitInfo:
        full = self.resolve(sha)
        if full is None:
            raise GitError(f"unknown commit {sha}")
        info = self.commit_infos([full])[0]
        if not with_files:
            return info
        base = info.parents[0] if info.parents else None
        return CommitInfo(**{**info.__dict__, "files": tuple(self.diff_files(base, full))})

    def diff_files(self, base: str | None, head: str) -> list[FileChange]:
        """Files changed from `base` (the empty tree when None) to `head`, renames detected."""
        base_ref = base or self._empty_tree()
        raw = self._git("diff", "--raw", "-z", "-M", "--no-abbrev", base_ref, head)
        numstat = self._git("diff", "--numstat", "-z", "-M", base_ref, head)
        counts = _parse_numstat(numstat)
        files: list[FileChange] = []
        fields = raw.split("\0")
        i = 0
        while i < len(fields) - 1:
            meta = fields[i]
            if not meta.startswith(":"):
                i += 1
                continue
            _, _, _, new_blob, status = meta[1:].split(" ")
            letter = status[0]
            if letter in "RC":
                old_path, new_path = fields[i + 1], fields[i + 2]
                i += 3
            else:
                old_path, new_path = None, fields[i + 1]
                i += 2
            adds, dels = counts.get(new_path, (0, 0))
            if letter == "D":
                blob = meta[1:].split(" ")[2]
            else:
                blob = new_blob
            files.append(
                FileChange(
                    path=new_path,
                    status=_STATUS_WORDS.get(letter, "modified"),
                    additions=adds,
                    deletions=dels,
                    blob_sha=blob,
                    previous_path=old_path if letter == "R" else None,
                )
            )
        return files

    def _empty_tree(self) -> str:
        return self._git("hash-object", "-t", "tree", "--stdin", input_text="").strip()


def _parse_commit_object(sha: str, body: str) -> CommitInfo:
    head, _, message = body.partition("\n\n")
    tree = ""
    parents: list[str] = []
    author = committer = None
    for line in head.split("\n"):
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(value)
        elif key == "author":
            author = _parse_raw_person(value)
        elif key == "committer":
            committer = _parse_raw_person(value)
    if author is None or committer is None:
        raise GitError(f"commit {sha} has no author or committer")
    return CommitInfo(sha=sha, tree=tree, parents=tuple(parents), author=author, committer=committer, message=message)


def _parse_numstat(text: str) -> dict[str, tuple[int, int]]:
    """`git diff --numstat -z`: `A\\tD\\tpath\\0`, or `A\\tD\\t\\0old\\0new\\0` for a rename."""
    counts: dict[str, tuple[int, int]] = {}
    fields = text.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        if not entry:
            i += 1
            continue
        adds, dels, path = entry.split("\t", 2)
        if path == "":
            path = fields[i + 2]
            i += 3
        else:
            i += 1
        # Binary files show "-": GitHub reports 0 changes for them.
        counts[path] = (int(adds) if adds.isdigit() else 0, int(dels) if dels.isdigit() else 0)
    return counts
