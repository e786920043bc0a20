"""GitLab's and Bitbucket Cloud's revert forms and merge conventions (INTERFACES 4), on hand-built
default-branch histories: the pure core recognises the words each host writes, without knowing
which host a commit came from."""

import hashlib
from datetime import UTC, datetime

from connect_app.reality.model import Commit, PullRequest
from connect_app.reality.reverts import analyse_reverts

MERGED = datetime(2026, 11, 23, tzinfo=UTC)


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def commit(name: str, message: str, **kwargs) -> Commit:
    return Commit(sha(name), message, **kwargs)


def _gitlab_merge(name: str, branch: str, title: str, number: int, *, parents: tuple[str, ...]) -> Commit:
    """GitLab's default merge commit message."""
    return commit(name, f"Merge branch '{branch}' into 'main'\n\n{title}\n\nSee merge request acme/shop!{number}",
                  parents=parents)


def test_gitlab_revert_button_on_a_merge_commit_says_this_reverts_merge_request():
    base = commit("base", "Initial")
    inner = commit("inner", "Add payment retry", parents=(base.sha,))
    merge = _gitlab_merge("m", "feat-304-retry", "FEAT-304: Payment retry", 7, parents=(base.sha, inner.sha))
    # GitLab's Revert button writes no SHA when it reverts a merge request's merge commit; the
    # subject is editable in its dialog, so the request number is what counts.
    revert = commit("r", "Back out payment retry\n\nThis reverts merge request !7", parents=(merge.sha,))
    analysis = analyse_reverts([base, inner, merge, revert])
    assert analysis.reverted_by == {merge.sha: revert.sha, inner.sha: revert.sha}
    assert analysis.reverts[0].form == "revert-button"


def test_this_reverts_merge_request_resolves_through_the_merge_request_facts():
    """With fast-forward merges there is no `See merge request` line: the request's recorded
    merge (squash) commit says which commit it was."""
    base = commit("base", "Initial")
    squash = commit("s", "FEAT-304: Payment retry", parents=(base.sha,))
    later = commit("l", "FEAT-304: Payment retry", parents=(squash.sha,))  # the same subject, landed again
    revert = commit("r", 'Revert "FEAT-304: Payment retry"\n\nThis reverts merge request !7', parents=(later.sha,))
    pull = PullRequest(7, "FEAT-304: Payment retry", "", "feat-304-retry", squash.sha, MERGED)
    analysis = analyse_reverts([base, squash, later, revert], [pull])
    assert analysis.reverted_by == {squash.sha: revert.sha}


def test_gitlab_revert_of_a_single_commit_writes_the_sha():
    base = commit("base", "Initial")
    squash = commit("s", "FEAT-304: Payment retry", parents=(base.sha,))
    revert = commit("r", f'Revert "FEAT-304: Payment retry"\n\nThis reverts commit {squash.sha}',
                    parents=(squash.sha,))
    analysis = analyse_reverts([base, squash, revert])
    assert analysis.reverted_by == {squash.sha: revert.sha}
    assert analysis.reverts[0].form == "sha"


def test_merge_request_opened_by_gitlab_revert_button_reverts_every_commit_of_the_request():
    """The revert merge request (branch `revert-<short sha>`, description `This reverts merge
    request !N`) merged with a commit whose own words name nothing."""
    base = commit("base", "Initial")
    one = commit("one", "Add retry", parents=(base.sha,))
    two = commit("two", "Tune retry", parents=(one.sha,))
    merge = _gitlab_merge("m", "feat-304-retry", "FEAT-304: Payment retry", 7, parents=(base.sha, two.sha))
    undo = commit("undo", "Undo the retry work", parents=(merge.sha,))
    merge_back = _gitlab_merge("m2", "revert-1a2b3c4d", "Revert FEAT-304", 8, parents=(merge.sha, undo.sha))
    pulls = [PullRequest(7, "FEAT-304: Payment retry", "", "feat-304-retry", merge.sha, MERGED, (one.sha, two.sha)),
             PullRequest(8, "Revert \"Merge branch 'feat-304-retry' into 'main'\"", "This reverts merge request !7",
                         "revert-1a2b3c4d", merge_back.sha, MERGED, (undo.sha,))]
    analysis = analyse_reverts([base, one, two, merge, undo, merge_back], pulls)
    assert set(analysis.reverted_by) == {one.sha, two.sha, merge.sha}


def test_without_the_words_a_revert_merge_request_reverts_nothing():
    base = commit("base", "Initial")
    squash = commit("s", "FEAT-304: Payment retry", parents=(base.sha,))
    other = commit("o", "Tidy up", parents=(squash.sha,))
    pulls = [PullRequest(7, "FEAT-304: Payment retry", "", "feat-304-retry", squash.sha, MERGED),
             PullRequest(8, "Tidy up", "Some cleanup", "revert-1a2b3c4d", other.sha, MERGED)]
    assert analyse_reverts([base, squash, other], pulls).reverted_by == {}


def test_bitbucket_revert_of_a_pull_request_is_git_form_on_its_merge_commit():
    base = commit("base", "Initial")
    inner = commit("inner", "FEAT-304 add retry", parents=(base.sha,))
    merge = commit("m", "Merged in feat-304-retry (pull request #3)\n\nFEAT-304: Payment retry",
                   parents=(base.sha, inner.sha))
    revert = commit("r", f'Revert "Merged in feat-304-retry (pull request #3)"\n\nThis reverts commit {merge.sha}, '
                         f"reversing\nchanges made to {base.sha}.", parents=(merge.sha,))
    analysis = analyse_reverts([base, inner, merge, revert])
    assert analysis.reverted_by == {merge.sha: revert.sha, inner.sha: revert.sha}


def test_a_request_that_carries_only_a_revert_is_no_re_land_even_when_its_branch_names_the_key():
    """Bitbucket's Revert lands git's revert through a pull request merged with a merge commit;
    the branch may well carry the original's name (`feat-304-...`). That merge re-lands nothing."""
    from connect_app.reality.drift import changes_for_keys

    base = commit("base", "Initial")
    squash = commit("s", "Merged in feat-304-retry (pull request #1)\n\nFEAT-304: Payment retry", parents=(base.sha,))
    revert = commit("r", f'Revert "Merged in feat-304-retry (pull request #1)"\n\nThis reverts commit {squash.sha}.',
                    parents=(squash.sha,))
    merge = commit("m", "Merged in feat-304-retry-revert (pull request #2)\n\nRevert", parents=(squash.sha, revert.sha))
    commits = [base, squash, revert, merge]
    pulls = [PullRequest(2, 'Revert "Merged in feat-304-retry (pull request #1)"', "", "feat-304-retry-revert",
                         merge.sha, MERGED, (revert.sha,))]
    analysis = analyse_reverts(commits, pulls)
    changes = changes_for_keys(commits, pulls, analysis, None)
    assert [change.sha for change in changes["FEAT-304"]] == [squash.sha]
