"""How the pages show times and durations."""

import datetime

import pytest

from noops_console.templatetags.console import duration, took, when

NOW = datetime.datetime(2026, 1, 1, 0, 10, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("value, shown", [
    ("2026-11-30T05:11:19Z", "2026-11-30 05:11:19"), (None, "-"), ("", "-"), ("garbage", "-"),
])
def test_when(value, shown):
    assert when(value) == shown


@pytest.mark.parametrize("seconds, shown", [(0, "0s"), (59.4, "59s"), (65, "1m05s"), (3600 * 2 + 180, "2h03m"),
                                            (-3, "0s")])
def test_duration(seconds, shown):
    assert duration(seconds) == shown


@pytest.mark.parametrize("row, shown", [
    ({"started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:01:05Z", "status": "success"}, "1m05s"),
    ({"started": "2026-01-01T00:09:48Z", "ended": None, "status": "deploying"}, "12s…"),
    ({"started": "2026-01-01T00:00:00Z", "ended": None, "status": "running"}, "10m00s…"),
    ({"started": "2026-01-01T00:00:00Z", "ended": None, "status": "pending"}, "-"),
    ({"started": None, "ended": None, "status": "pending"}, "-"),
])
def test_took(row, shown):
    assert took(row, NOW) == shown
