"""The guest histogram shipped in bench/data is the shared reference, row for row."""
from pathlib import Path

import pytest

from bench.native import guest_histogram

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "rmap_count_histogram_6G_guest.csv"


def test_shipped_histogram_matches_the_reference():
    rows = guest_histogram()
    assert rows[0] == (0, 0, 3089171) and (64, 127, 7) in rows
    if not SHARED.is_file():
        pytest.skip(f"{SHARED} not present beside this checkout")
    assert guest_histogram(SHARED) == rows
