"""The body of `POST /api/config-changes/<id>`: what it becomes, and that nothing odd gets past
the parser as anything but a PayloadError (which intake answers with a 400)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connect_app.intake.parse import PayloadError, parse_config_change

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
VALID: dict[str, Any] = {"environment": "production", "change": "reverted", "issue_keys": ["FEAT-304", "OPS-7"],
                         "description": "retry settings\n  back to v41", "changed_at": "2026-11-26T23:04:00+01:00",
                         "url": "https://argocd.example.com/applications/checkout"}
ODD = [None, True, 0, -1, 1.5, float("nan"), "", " ", "\u0000", "\ud800", "x" * 5000, [], [None], ["FEAT-304"] * 101,
       {}, {"a": 1}, "2026-13-45T99:99:99Z", "0001-01-01T00:00:00+01:00", "FEAT-304", "javascript:alert(1)"]


def test_a_valid_report_becomes_a_plain_record() -> None:
    event = parse_config_change(VALID, NOW)
    assert (event.environment, event.change, event.issue_keys) == ("production", "reverted", ("FEAT-304", "OPS-7"))
    assert event.description == "retry settings back to v41"
    assert event.changed_at == datetime(2026, 11, 26, 22, 4, tzinfo=UTC)
    assert event.url == VALID["url"]


def test_keys_are_deduplicated_and_optional_fields_default() -> None:
    body = {k: v for k, v in VALID.items() if k not in ("changed_at", "url")} | {"issue_keys": ["A1-1", "A1-1"]}
    event = parse_config_change(body, NOW)
    assert (event.issue_keys, event.changed_at, event.url) == (("A1-1",), NOW, None)


def test_a_time_after_arrival_counts_as_the_arrival() -> None:
    later = (NOW + timedelta(days=2)).isoformat()
    assert parse_config_change({**VALID, "changed_at": later}, NOW).changed_at == NOW


@pytest.mark.parametrize("field", [*VALID, "unknown"])
def test_odd_values_anywhere_are_a_payload_error_or_accepted_never_a_crash(field: str) -> None:
    for value in ODD:
        try:
            parse_config_change({**VALID, field: value}, NOW)
        except PayloadError:
            pass
