"""The text helpers request bodies are built with: a wrong "plain" would send a quote or a
control character unescaped, so anything but ASCII letters and digits must answer no."""

from __future__ import annotations

import pyarrow as pa
import pytest

from syncd.destinations.arrow_text import joined, plain


def test_hashes_are_plain() -> None:
    assert plain(pa.array(["0123abcdef" * 6, None, "ABCxyz789"]))


@pytest.mark.parametrize("value", ['a"b', "back\\slash", "tab\t", "sp ace", "zoë", "a,b", "\x00"])
def test_anything_else_is_not(value: str) -> None:
    assert not plain(pa.array(["abc123", value]))


def test_a_slice_answers_for_the_bytes_it_shares() -> None:
    """A slice of plain values beside others says no: never yes for a value it holds."""
    values = pa.array(["abc", 'q"uote'])
    assert not plain(values.slice(0, 1))
    assert plain(pa.array(["abc"]))


def test_no_bytes_at_all_is_not_plain() -> None:
    assert not plain(pa.array(["", ""]))
    assert not plain(pa.array([None], pa.string()))


def test_joined() -> None:
    assert joined(pa.array(["a", "bc", ""]), ", ").to_pybytes() == b"a, bc, "


def test_layouts_that_keep_bytes_elsewhere_are_not_plain() -> None:
    """Dictionaries keep their values in a dictionary; a plain answer would read the wrong
    buffer, so anything but string arrays says no."""
    assert not plain(pa.array(["abc", "abc"]).dictionary_encode())
    assert not plain(pa.array([b"abc"], pa.binary()))
