import itertools
import random

from connect_app.reality.history import order_branch
from connect_app.reality.model import Segment

ZERO = "0" * 40


def sha(name: str) -> str:
    return name.ljust(40, "0")


def test_pushes_chain_by_head_whatever_the_arrival_order():
    a, b, c, d, e = (sha(x) for x in "abcde")
    segments = [
        Segment(ZERO, b, (a, b)),
        Segment(b, c, (c,)),
        Segment(c, e, (d, e)),
    ]
    for permutation in itertools.permutations(segments):
        assert order_branch(permutation) == [a, b, c, d, e]


def test_duplicated_deliveries_change_nothing():
    a, b, c = (sha(x) for x in "abc")
    segments = [Segment(ZERO, a, (a,)), Segment(a, b, (b,)), Segment(b, c, (c,))]
    assert order_branch(segments * 3) == [a, b, c]


def test_push_listing_order_is_kept_within_a_push():
    # A merge push lists the merged branch's commits, then the merge; never sorted by SHA.
    base, z, y, merge = sha("1"), sha("f"), sha("e"), sha("9")
    assert order_branch([Segment(ZERO, base, (base,)), Segment(base, merge, (z, y, merge))]) == [
        base, z, y, merge,
    ]


def test_push_wins_where_the_api_disagrees():
    a, b, c, d = (sha(x) for x in "abcd")
    segments = [
        Segment(ZERO, a, (a,), "push"),
        Segment(a, c, (b, c), "push"),
        # The API's first-parent view puts c first: push order is what reached the branch.
        Segment(a, c, (c, b), "api"),
        Segment(c, d, (d,), "api"),
    ]
    assert order_branch(segments) == [a, b, c, d]
    assert order_branch(reversed(segments)) == [a, b, c, d]


def test_api_steps_fill_what_a_truncated_push_left_out():
    a, b, c, d, e = (sha(x) for x in "abcde")
    segments = [
        Segment(None, a, (a,), "api"),
        Segment(a, b, (b,), "api"),
        Segment(b, c, (c,), "api"),
        Segment(a, e, (d, e), "push"),  # payload lists only the newest commits
    ]
    assert order_branch(segments) == [a, b, c, d, e]


def test_disconnected_chains_have_a_fixed_order():
    a, b, x, y = sha("a"), sha("b"), sha("8"), sha("9")
    segments = [Segment(ZERO, a, (a,)), Segment(a, b, (b,)), Segment(sha("7"), y, (x, y))]
    expected = order_branch(segments)
    assert expected[:2] == [a, b]  # the chain that starts with the branch's creation first
    for permutation in itertools.permutations(segments):
        assert order_branch(permutation) == expected


def test_force_push_back_does_not_repeat_commits():
    a, b, c = (sha(x) for x in "abc")
    segments = [Segment(ZERO, a, (a,)), Segment(a, b, (b,)), Segment(b, a, ()), Segment(a, c, (c,))]
    result = order_branch(segments)
    assert sorted(result) == sorted([a, b, c])
    assert result[0] == a
    rng = random.Random(4)
    for _ in range(20):
        shuffled = segments[:]
        rng.shuffle(shuffled)
        assert order_branch(shuffled) == result


def test_long_linear_history_does_not_recurse():
    shas = [f"{n:040x}" for n in range(1, 20001)]
    segments = [Segment(ZERO, shas[0], (shas[0],))]
    segments += [Segment(before, after, (after,)) for before, after in itertools.pairwise(shas)]
    random.Random(1).shuffle(segments)
    assert order_branch(segments) == shas
