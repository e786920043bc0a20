"""Every revert form of REVERTS.md, on hand-built default-branch histories."""

import hashlib
from datetime import UTC, datetime

import pytest

from connect_app.reality.model import Commit, PullRequest
from connect_app.reality.reverts import analyse_reverts, is_revert, reverted_in

MERGED = datetime(2025, 11, 24, tzinfo=UTC)


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def commit(name: str, message: str, **kwargs) -> Commit:
    return Commit(sha(name), message, **kwargs)


def test_git_revert_with_full_sha():
    a = commit("a", "FEAT-1: add payment retry")
    r = commit("r", f'Revert "FEAT-1: add payment retry"\n\nThis reverts commit {a.sha}.\n')
    analysis = analyse_reverts([a, r])
    assert analysis.reverted_by == {a.sha: r.sha}
    assert [(x.sha, x.targets, x.form) for x in analysis.reverts] == [(r.sha, (a.sha,), "sha")]
    assert analysis.reverts[0].keys == ("FEAT-1",)
    assert is_revert(r.sha, analysis) and not is_revert(a.sha, analysis)


def test_abbreviated_sha_and_several_lines_in_one_message():
    a = commit("a", "FEAT-1 one")
    b = commit("b", "FEAT-2 two")
    c = commit("c", "FEAT-3 three")
    r = commit("r", f"Back out the sync work\n\nThis reverts commit {a.sha[:7]}.\nThis reverts commit {b.sha[:12]}.")
    analysis = analyse_reverts([a, b, c, r])
    assert analysis.reverted_by == {a.sha: r.sha, b.sha: r.sha}


def test_sha_that_is_not_an_earlier_default_branch_commit_reverts_nothing():
    a = commit("a", "FEAT-1 one")
    later = commit("later", "FEAT-2 two")
    r = commit("r", f'Revert "FEAT-2 two"\n\nThis reverts commit {later.sha}.')
    analysis = analyse_reverts([a, r, later])
    assert analysis.reverted_by == {}
    assert analysis.unconfirmed[0].sha == r.sha
    assert analysis.unresolved == (later.sha,)


def test_revert_inside_a_squashed_pull_request_reverts_nothing_on_the_branch():
    a = commit("a", "FEAT-1 one")
    squash = commit(
        "s",
        "FEAT-9 checkout flow (#41)\n\n* wip\n\n* Revert \"wip\"\n\nThis reverts commit "
        f"{sha('inner')}.\n\n* finish",
    )
    analysis = analyse_reverts([a, squash])
    assert analysis.reverts == ()
    assert analysis.unconfirmed == ()
    assert analysis.unresolved == ()  # a squash listing is not the commit's own words


def test_ambiguous_abbreviation_resolves_nothing():
    a = Commit("abcdef1" + "1" * 33, "FEAT-1 one")
    b = Commit("abcdef1" + "2" * 33, "FEAT-2 two")
    r = commit("r", "Undo\n\nThis reverts commit abcdef1.")
    assert analyse_reverts([a, b, r]).reverted_by == {}


def test_reverting_a_merge_reverts_what_it_brought_in():
    base = commit("base", "Initial")
    x = commit("x", "FEAT-5 part one")
    y = commit("y", "FEAT-5 part two")
    merge = commit("m", "Merge pull request #7 from acme/feat-5", parents=(base.sha, y.sha),
                   brought_in=(x.sha, y.sha))
    r = commit(
        "r",
        f'Revert "Merge pull request #7 from acme/feat-5"\n\nThis reverts commit {merge.sha}, reversing\n'
        f"changes made to {base.sha}.\n",
    )
    analysis = analyse_reverts([base, x, y, merge, r])
    assert analysis.reverted_by == {merge.sha: r.sha, x.sha: r.sha, y.sha: r.sha}
    assert base.sha not in analysis.reverted_by


def test_merge_revert_without_parent_data_uses_the_mainline_named_in_the_message():
    base = commit("base", "Initial")
    x = commit("x", "FEAT-5 part one")
    merge = commit("m", "Merge pull request #7 from acme/feat-5")
    r = commit(
        "r", f"Revert merge\n\nThis reverts commit {merge.sha[:10]}, reversing\nchanges made to {base.sha[:10]}."
    )
    assert set(analyse_reverts([base, x, merge, r]).reverted_by) == {x.sha, merge.sha}


def test_revert_button_on_a_merge_commit_pull_request():
    base = commit("base", "Initial")
    x = commit("x", "Add retry loop")
    y = commit("y", "Tune backoff")
    merge7 = commit("m7", "Merge pull request #7 from acme/feat-304-retry\n\nPayment retry")
    inner = commit("inner", 'Revert "Payment retry"')  # GitHub writes no body at all
    merge8 = commit("m8", "Merge pull request #8 from acme/revert-7-feat-304-retry\n\nRevert \"Payment retry\"")
    pulls = [
        PullRequest(7, "Payment retry", "FEAT-304", "feat-304-retry", merge7.sha, MERGED, (x.sha, y.sha)),
        PullRequest(8, 'Revert "Payment retry"', "Reverts acme/shop#7", "revert-7-feat-304-retry",
                    merge8.sha, MERGED, (inner.sha,)),
    ]
    analysis = analyse_reverts([base, x, y, merge7, inner, merge8], pulls)
    assert analysis.reverted_by == {x.sha: inner.sha, y.sha: inner.sha, merge7.sha: inner.sha}
    assert {r.sha for r in analysis.reverts} == {inner.sha, merge8.sha}
    assert {r.form for r in analysis.reverts} == {"revert-button"}
    assert analysis.unconfirmed == ()


def test_revert_button_is_recognised_from_the_merge_subject_without_pull_data():
    base = commit("base", "Initial")
    x = commit("x", "FEAT-304 add retry")
    merge7 = commit("m7", "Merge pull request #7 from acme/feat-304-retry", parents=(base.sha, x.sha),
                    brought_in=(x.sha,))
    inner = commit("inner", 'Revert "Payment retry"')
    merge8 = commit("m8", "Merge pull request #8 from acme/revert-7-feat-304-retry",
                    parents=(merge7.sha, inner.sha), brought_in=(inner.sha,))
    analysis = analyse_reverts([base, x, merge7, inner, merge8])
    assert analysis.reverted_by == {x.sha: inner.sha, merge7.sha: inner.sha}
    assert analysis.unconfirmed == ()


def test_revert_button_on_a_squash_merged_pull_request():
    a = commit("a", "FEAT-2: faster search (#11)")
    r = commit("r", f'Revert "FEAT-2: faster search (#11)" (#12)\n\nThis reverts commit {a.sha}.')
    pulls = [PullRequest(12, 'Revert "FEAT-2: faster search"', "Reverts acme/shop#11",
                         "revert-11-faster-search", r.sha, MERGED, (sha("x"),))]
    analysis = analyse_reverts([a, r], pulls)
    assert analysis.reverted_by == {a.sha: r.sha}


def test_squash_revert_edited_to_an_empty_body_matches_by_subject():
    a = commit("a", "FEAT-2: faster search (#11)")
    b = commit("b", "FEAT-3: more")
    r = commit("r", 'Revert "FEAT-2: faster search (#11)" (#12)')
    analysis = analyse_reverts([a, b, r])
    assert analysis.reverted_by == {a.sha: r.sha}
    assert analysis.reverts[0].form == "subject"


def test_subject_form_takes_the_latest_commit_not_already_reverted():
    first = commit("1", "Bump cache size")
    second = commit("2", "Bump cache size")
    r1 = commit("r1", 'Revert "Bump cache size"')
    r2 = commit("r2", 'Revert "Bump cache size"')
    analysis = analyse_reverts([first, second, r1, r2])
    assert analysis.reverted_by == {second.sha: r1.sha, first.sha: r2.sha}


def test_subject_cut_with_an_ellipsis_matches_by_prefix():
    long_subject = "FEAT-8: rework the settlement batching so that partial captures are retried overnight"
    a = commit("a", long_subject)
    r = commit("r", f'Revert "{long_subject[:60]}…"')
    assert analyse_reverts([a, r]).reverted_by == {a.sha: r.sha}


def test_unbalanced_quote_and_new_key_before_the_quote():
    a = commit("a", "ABC-4092: Upgrade the parser")
    r = commit("r", 'ABC-4788: Revert "ABC-4092: Upgrade the parser')
    analysis = analyse_reverts([a, r])
    assert analysis.reverted_by == {a.sha: r.sha}
    assert analysis.reverts[0].keys == ("ABC-4788", "ABC-4092")


def test_reference_form_with_placeholder_subject():
    a = commit("a", "FEAT-6 nightly export")
    r = commit(
        "r",
        "# *** SAY WHY WE ARE REVERTING ON THE TITLE LINE ***\n\n"
        f"This reverts commit {a.sha[:9]} (FEAT-6 nightly export, 2025-11-20).",
    )
    assert analyse_reverts([a, r]).reverted_by == {a.sha: r.sha}


def test_revert_of_revert_with_sha_makes_the_original_live_again():
    a = commit("a", "FEAT-1 retry")
    r1 = commit("r1", f'Revert "FEAT-1 retry"\n\nThis reverts commit {a.sha}.')
    r2 = commit("r2", f'Revert "Revert "FEAT-1 retry""\n\nThis reverts commit {r1.sha}.')
    analysis = analyse_reverts([a, r1, r2])
    assert analysis.reverted_by == {}
    assert analysis.reverts[1].form == "revert-of-revert"
    assert analysis.reverts[1].undoes == (r1.sha,)


def test_old_style_triple_revert_without_shas_reverts_again():
    a = commit("a", "B")
    r1 = commit("r1", 'Revert "B"')
    r2 = commit("r2", 'Revert "Revert "B""')
    r3 = commit("r3", 'Revert "Revert "Revert "B"""')
    analysis = analyse_reverts([a, r1, r2, r3])
    assert analysis.reverted_by == {a.sha: r3.sha}
    assert analyse_reverts([a, r1, r2]).reverted_by == {}


def test_reapply_undoes_the_latest_revert_of_the_subject():
    a = commit("a", "FEAT-1 retry")
    r1 = commit("r1", 'Revert "FEAT-1 retry"')
    again = commit("again", 'Reapply "FEAT-1 retry"')
    analysis = analyse_reverts([a, r1, again])
    assert analysis.reverted_by == {}
    assert analysis.reverts[-1].form == "reapply"
    # git 2.43: reverting the Reapply reverts B again.
    r3 = commit("r3", f'Revert "Reapply "FEAT-1 retry""\n\nThis reverts commit {again.sha}.')
    assert analyse_reverts([a, r1, again, r3]).reverted_by == {a.sha: r3.sha}


def test_reapply_with_sha_of_the_revert():
    a = commit("a", "FEAT-1 retry")
    r1 = commit("r1", f'Revert "FEAT-1 retry"\n\nThis reverts commit {a.sha}.')
    again = commit("again", f'Reapply "FEAT-1 retry"\n\nThis reverts commit {r1.sha}.')
    assert analyse_reverts([a, r1, again]).reverted_by == {}


def test_unmatched_reapply_is_an_ordinary_commit():
    again = commit("again", 'Reapply "FEAT-1 retry"')
    analysis = analyse_reverts([again])
    assert analysis.reverts == () and analysis.unconfirmed == ()


def test_nested_revert_button_undoes_the_first_revert():
    x = commit("x", "Fix typo")
    m7 = commit("m7", "Merge pull request #7 from octo/patch-1", brought_in=(x.sha,))
    i8 = commit("i8", 'Revert "Fix typo"')
    m8 = commit("m8", "Merge pull request #8 from octo/revert-7-patch-1", brought_in=(i8.sha,))
    i9 = commit("i9", 'Revert "Revert "Fix typo""')
    m9 = commit("m9", "Merge pull request #9 from octo/revert-8-revert-7-patch-1", brought_in=(i9.sha,))
    assert analyse_reverts([x, m7, i8, m8]).reverted_by == {x.sha: i8.sha, m7.sha: i8.sha}
    assert analyse_reverts([x, m7, i8, m8, i9, m9]).reverted_by == {}


def test_subject_only_wording_without_match_is_unconfirmed():
    a = commit("a", "ABC-1485 upgrade the queue client")
    vague = commit("v", "Revert ABC-1485 upgrade")
    reverting = commit("w", "Reverting ABC-1696 patch")
    analysis = analyse_reverts([a, vague, reverting])
    assert analysis.reverted_by == {}
    assert [(u.sha, u.keys) for u in analysis.unconfirmed] == [
        (vague.sha, ("ABC-1485",)), (reverting.sha, ("ABC-1696",)),
    ]


def test_unquoted_revert_of_an_exact_earlier_subject_counts():
    a = commit("a", "ABC-1485 upgrade the queue client")
    r = commit("r", "Revert ABC-1485 upgrade the queue client")
    assert analyse_reverts([a, r]).reverted_by == {a.sha: r.sha}


def test_a_revert_reverts_only_earlier_commits_even_with_the_same_subject_later():
    r = commit("r", 'Revert "Bump"')
    a = commit("a", "Bump")
    analysis = analyse_reverts([r, a])
    assert analysis.reverted_by == {}
    assert analysis.unconfirmed[0].sha == r.sha


def test_reverted_in_production_only_counts_present_reverts():
    a = commit("a", "FEAT-1 retry")
    r1 = commit("r1", f'Revert "FEAT-1 retry"\n\nThis reverts commit {a.sha}.')
    r2 = commit("r2", f'Reapply "FEAT-1 retry"\n\nThis reverts commit {r1.sha}.')
    analysis = analyse_reverts([a, r1, r2])
    assert reverted_in(analysis, {a.sha}) == {}
    assert reverted_in(analysis, {a.sha, r1.sha}) == {a.sha: r1.sha}
    assert reverted_in(analysis, {a.sha, r1.sha, r2.sha}) == {}


def test_merge_reverts_line_break_sentence_does_not_revert_the_mainline():
    base = commit("base", "FEAT-9 base work")
    x = commit("x", "FEAT-5 x")
    merge = commit("m", "Merge branch 'feat-5'", parents=(base.sha, x.sha), brought_in=(x.sha,))
    message = f"Revert \"Merge branch 'feat-5'\"\n\nThis reverts commit {merge.sha}, reversing\n"
    r = commit("r", message + f"changes made to {base.sha}.")
    assert base.sha not in analyse_reverts([base, x, merge, r]).reverted_by


@pytest.mark.parametrize("listed", ["mainline first", "branch first"])
def test_merge_revert_naming_its_mainline_parent_spares_a_mainline_commit_pushed_with_the_merge(listed):
    # One push holding a mainline commit A, the branch's B and the merge M: the push alone would
    # credit A and B to M. The revert's "reversing changes made to A" says A was not brought in,
    # whichever order the push listed them in (GitHub lists by date).
    from connect_app.reality.model import Commit as C

    base = C("0" * 40, "Initial")
    a = C("a" * 40, "ABC-1: mainline fix")
    b = C("b" * 40, "ABC-2: branch work")
    pushed = [a, b] if listed == "mainline first" else [b, a]
    m = C("c" * 40, "Merge pull request #7 from acme/abc-2", brought_in=tuple(c.sha for c in pushed))
    r = C("d" * 40, f'Revert "Merge pull request #7 from acme/abc-2"\n\nThis reverts commit {m.sha}, reversing\n'
                    f"changes made to {a.sha}.")
    analysis = analyse_reverts([base, *pushed, m, r])
    assert set(analysis.reverted_by) == {b.sha, m.sha}
