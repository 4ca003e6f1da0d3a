"""Long lists of values in slices: IN lists and multi-row statements that stay under every
backend's limit on parameters in one statement."""

from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

T = TypeVar("T")


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for index in range(0, len(values), size):
        yield values[index: index + size]
