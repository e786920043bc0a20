"""Which week `connect-app demo` tells the FEAT-304 story in."""

from __future__ import annotations

from datetime import UTC, datetime


def test_the_demo_story_is_told_in_the_latest_week_whose_revert_is_already_deployed() -> None:
    from connect_app.sandbox.story import StoryWeek

    thursday = StoryWeek.latest_before(datetime(2026, 11, 26, 20, 0, tzinfo=UTC))
    assert (thursday.monday.day, thursday.revert_at.day, thursday.revert_deployed_at.hour) == (23, 25, 23)
    mid_revert = StoryWeek.latest_before(datetime(2026, 11, 25, 23, 10, tzinfo=UTC))
    assert mid_revert.revert_deployed_at == datetime(2026, 11, 18, 23, 31, tzinfo=UTC)
    assert mid_revert.monday.strftime("%a %H:%M") == "Mon 10:00"
