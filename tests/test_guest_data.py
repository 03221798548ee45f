"""The guest histogram shipped in bench/data is the shared reference, row for row.

The reference (shared/reference/rmap_count_histogram_6G_guest.csv, published
beside the project) is pinned here by its SHA-256, so the check runs in any
clone: the shipped file minus its two provenance lines must be that file
byte for byte.  Where the reference itself can be found (RMAPBENCH_SHARED,
or a shared/ directory beside the checkout or one of its parents) its digest
is checked against the pinned one too."""
import hashlib
import os
from pathlib import Path

from bench.native import guest_histogram

NAME = "rmap_count_histogram_6G_guest.csv"
REFERENCE_SHA256 = "2991851a4d7cb85b9debb243edc9fa4bf8eb84f3ac6eb6629eeccd84d0194727"
SHIPPED = Path(__file__).resolve().parents[1] / "bench" / "data" / NAME


def _find_reference() -> Path | None:
    env = os.environ.get("RMAPBENCH_SHARED")
    places = [Path(env) / "reference" / NAME] if env else []
    places += [d / "shared" / "reference" / NAME for d in Path(__file__).resolve().parents]
    return next((p for p in places if p.is_file()), None)


# the shipped copy starts with this many lines saying where it comes from
PROVENANCE_LINES = 2


def test_shipped_histogram_is_the_reference_byte_for_byte():
    lines = SHIPPED.read_bytes().splitlines(keepends=True)
    assert lines[0].startswith(b"# Copied verbatim from the published data")
    body = b"".join(lines[PROVENANCE_LINES:])
    assert hashlib.sha256(body).hexdigest() == REFERENCE_SHA256
    rows = guest_histogram()
    assert rows[0] == (0, 0, 3089171) and (64, 127, 7) in rows
    assert guest_histogram(SHIPPED) == rows


def test_the_pinned_digest_is_the_reference_where_it_is_present():
    ref = _find_reference()
    if ref is None:
        # nothing to compare the pin with in this clone; the test above still ran
        return
    assert hashlib.sha256(ref.read_bytes()).hexdigest() == REFERENCE_SHA256
    assert guest_histogram(ref) == guest_histogram(SHIPPED)
