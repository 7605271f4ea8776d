"""The CUDA toolkit -> minimum driver table: valid, ordered, sourced, and the rows quoted."""

from __future__ import annotations

from portwise.knowledge.cuda import family_minimum, load, minimum_driver, newest_listed
from portwise.versions import version_key


def test_rows_are_sorted_sourced_and_rise_with_the_toolkit() -> None:
    rows = load().rows
    assert all(r.source.startswith("https://docs.nvidia.com/") for r in rows)
    drivers = [version_key(r.min_driver) for r in rows]
    assert drivers == sorted(drivers)


def test_rows_match_the_incident_thresholds() -> None:
    """cuda-image-vs-driver: CUDA 11 needs >= 450, 9.2 needs >= 396 (maintainers)."""
    assert minimum_driver("11.0").min_driver.startswith("450.")  # type: ignore[union-attr]
    assert minimum_driver("9.2").min_driver.startswith("396.")  # type: ignore[union-attr]


def test_lookup_takes_the_nearest_release_below_within_the_major() -> None:
    assert minimum_driver("12.9").cuda == "12.6"  # type: ignore[union-attr]
    assert minimum_driver("6.5") is None
    assert newest_listed() == "13.0"
    assert family_minimum(12).min_driver == "525"  # type: ignore[union-attr]
    assert family_minimum(10) is None
