"""Medians with their spread, and deltas paired by round."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Spread", "paired_deltas", "spread"]


@dataclass(frozen=True)
class Spread:
    """The median of repeated measurements and the range they covered."""

    median: float
    minimum: float
    maximum: float
    count: int

    def format(self, digits: int = 0, *, signed: bool = False) -> str:
        """`median (min…max)`, e.g. `812 (790…905)`."""
        sign = "+" if signed else ""

        def number(value: float) -> str:
            return f"{value:{sign},.{digits}f}"

        if self.count == 1:
            return number(self.median)
        return f"{number(self.median)} ({number(self.minimum)}…{number(self.maximum)})"


def spread(values: Sequence[float]) -> Spread:
    """Median, minimum and maximum of at least one value."""
    return Spread(statistics.median(values), min(values), max(values), len(values))


def paired_deltas(values: Sequence[float | None], floors: Sequence[float | None]) -> list[float]:
    """Per-round differences; a round where either side failed is left out."""
    return [
        value - floor
        for value, floor in zip(values, floors, strict=True)
        if value is not None and floor is not None
    ]
