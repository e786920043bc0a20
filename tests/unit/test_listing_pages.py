"""The one pager every repository reader (GitHub, GitLab, Bitbucket) reads listings with: an
honest listing is read to its end, and a server whose pages repeat, never end, are not lists or
hold more than was asked for ends the read with HostileAnswer instead of holding a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from connect_app.providers.base import HostileAnswer, ListingPage, listing_pages

Read = Callable[[str, Mapping[str, Any] | None], ListingPage]


def _server(pages: dict[str, tuple[Any, str | None]], asked: list[tuple[str, Any]]) -> Read:
    def read(url: str, query: Mapping[str, Any] | None) -> ListingPage:
        asked.append((url, query))
        items, nxt = pages[url]
        return ListingPage(url, items, nxt)
    return read


def _read_all(pages: dict[str, tuple[Any, str | None]], start_url: str | None = None) -> list[ListingPage]:
    # A cap far below MAX_PAGES: a guard that fails shows as the wrong error, not as a long loop.
    return list(listing_pages(_server(pages, []), "p1", {"per_page": 2}, host="Acme", per_page=2,
                              start_url=start_url, max_pages=50))


def test_an_honest_listing_is_read_to_its_end_with_the_query_on_the_first_request_only() -> None:
    asked: list[tuple[str, Any]] = []
    pages = {"p1": ([1, 2], "p2"), "p2": ([3], None)}
    read = list(listing_pages(_server(pages, asked), "p1", {"per_page": 2}, host="Acme", per_page=2))
    assert [page.items for page in read] == [[1, 2], [3]]
    assert asked == [("p1", {"per_page": 2}), ("p2", None)]


def test_a_saved_page_resumes_the_listing_there() -> None:
    pages = {"p1": ([1, 2], "p2"), "p2": ([3], None)}
    assert [page.url for page in _read_all(pages, start_url="p2")] == ["p2"]


@pytest.mark.parametrize(("pages", "said"), [
    ({"p1": ([1], "p1")}, "points back to a page it had already sent"),
    ({"p1": ([1], "p2"), "p2": ([2], "p1")}, "points back to a page it had already sent"),
    ({"p1": ([1, 2, 3], None)}, "a page of 3 items where at most 2"),
    ({"p1": ({"not": "a list"}, None)}, "without a list"),
])
def test_a_hostile_listing_ends_with_a_hostile_answer(pages: dict[str, tuple[Any, str | None]], said: str) -> None:
    with pytest.raises(HostileAnswer, match=said) as raised:
        _read_all(pages)
    assert str(raised.value).startswith("Acme")


def test_a_server_that_answers_an_earlier_page_again_is_caught_where_it_answers() -> None:
    """A next link naming a new address whose answer comes from a page already read (a redirect
    the session does not follow, a server that ignores the page parameter)."""
    def read(url: str, query: Mapping[str, Any] | None) -> ListingPage:
        return ListingPage("p1", [1], f"{url}x")

    with pytest.raises(HostileAnswer, match="came back to a page it had already sent"):
        list(listing_pages(read, "p1", {}, host="Acme", per_page=2, max_pages=50))


def test_a_listing_that_never_ends_stops_at_the_page_cap() -> None:
    def read(url: str, query: Mapping[str, Any] | None) -> ListingPage:
        if len(url) > 100:
            pytest.fail("read on past the page cap")
        return ListingPage(url, [1], f"{url}+")

    with pytest.raises(HostileAnswer, match="did not end after 5 pages"):
        list(listing_pages(read, "p", {}, host="Acme", per_page=2, max_pages=5))
