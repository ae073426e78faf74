"""argparse types shared by the commands: a wrong value stops argparse itself (one sentence,
exit code 2). The Python API checks the same values again and raises UserError."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from helpers.errors import UserError

T = TypeVar("T")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= `low`."""
    def parse(text: str) -> int:
        value = _whole_number(text)
        if value < low:
            why = "is negative" if low == 0 else f"is less than {low}"
            raise argparse.ArgumentTypeError(f"{value} {why}; use {low} or more")
        return value

    parse.__name__ = f"int_at_least_{low}"
    return parse


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in low..high."""
    def parse(text: str) -> int:
        value = _whole_number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    parse.__name__ = f"int_between_{low}_{high}"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def from_user_check(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises UserError (the Python API's check)."""
    def wrapped(text: str) -> T:
        try:
            return parse(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None

    wrapped.__name__ = getattr(parse, "__name__", "value")
    return wrapped
