"""Command-line helpers shared by every entry point (`python -m deep.*`, `analysis.*`).

Every bad input becomes a :class:`UsageError`, which the entry point prints as ONE line,
``error: <flag> <value>: <what is allowed>``, before exiting with status 2 (no traceback,
no usage dump). :class:`OneLineParser` routes argparse's own errors the same way.

Value syntax:

* integer sets (:func:`parse_int_set`): ``2..16`` (inclusive range), ``2,4,8`` (list, any
  order; sorted and de-duplicated) or ``8``;
* float lists (:func:`parse_float_list`): ``1`` or ``0.1,0.5,1``;
* choice lists (:func:`parse_choices`): ``rl2,dream`` (order kept, duplicates dropped).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

_INT = re.compile(r"[0-9]+")

MAX_VALUES = 1_000_000
"""Largest number of values an integer range may expand to."""


SIGPIPE_STATUS = 141
"""Exit status of a command whose reader closed the pipe early (128 + SIGPIPE, as a Unix tool)."""


def run_main(main: Callable[..., int | None], *args: object) -> int:
    """Run an entry point's ``main(*args)`` and return its exit status (None counts as 0).

    A reader that stops early (``python -m analysis.sweep spec --dry-run | head``) ends the
    command quietly with :data:`SIGPIPE_STATUS`, as it would a Unix tool, not with a
    ``BrokenPipeError`` traceback; stdout is pointed at ``os.devnull`` so that the
    interpreter's own final flush cannot raise again.
    """
    try:
        status = main(*args)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_STATUS
    return 0 if status is None else int(status)


class UsageError(Exception):
    """A bad command line; ``str(err)`` is the complete one-line message (without ``error:``)."""

    @classmethod
    def for_flag(cls, flag: str, value: object, allowed: str) -> UsageError:
        """The error ``<flag> <value>: <allowed>``."""
        return cls(f"{flag} {value}: {allowed}")

    def line(self) -> str:
        """The one line to print on stderr."""
        return "error: " + " ".join(str(self).split())


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` shows every flag's default: ``(default: X)`` after its help text.

    Flags whose help already says ``default`` and flags without a default (None, or a
    ``store_true`` switch) are left as they are.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
            or not action.option_strings
        ):
            return action.help
        return f"{text} (default: {default})"


class OneLineParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors raise :class:`UsageError` instead of printing usage.

    ``--help`` shows the defaults (:class:`DefaultsHelpFormatter`).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` (argparse calls this for unknown or malformed flags)."""
        raise UsageError(message)


def _int_or_raise(flag: str, text: str, item: str, allowed: str) -> int:
    if not _INT.fullmatch(item):
        raise UsageError.for_flag(flag, text, allowed)
    return int(item)


def int_at_least(flag: str, text: str, minimum: int) -> int:
    """``text`` as an integer >= ``minimum`` (``_`` separators allowed), else a UsageError."""
    item = text.replace("_", "")
    value = _int_or_raise(flag, text, item, f"allowed: an integer >= {minimum}")
    if value < minimum:
        raise UsageError.for_flag(flag, text, f"allowed: an integer >= {minimum}")
    return value


def parse_int_set(
    flag: str, text: str, minimum: int, maximum: int | None = None
) -> tuple[int, ...]:
    """Parse ``LO..HI``, ``a,b,c`` or ``n`` into a sorted tuple of distinct integers.

    Every value must lie in ``[minimum, maximum]``; a range needs ``LO <= HI``.
    """
    upper = f" and <= {maximum}" if maximum is not None else ""
    allowed = (
        f"use integers >= {minimum}{upper}: a single value (8), an inclusive range "
        f"LO..HI with LO <= HI ({minimum}..16) or a comma list (2,4,8)"
    )
    text = str(text)
    body = text.strip()
    if ".." in body:
        lo_text, _, hi_text = body.partition("..")
        lo = _int_or_raise(flag, text, lo_text.strip(), allowed)
        hi = _int_or_raise(flag, text, hi_text.strip(), allowed)
        if lo > hi:
            raise UsageError.for_flag(flag, text, allowed)
        if hi - lo >= MAX_VALUES:
            raise UsageError.for_flag(flag, text, f"a range may hold at most {MAX_VALUES} values")
        values = list(range(lo, hi + 1))
    else:
        values = [_int_or_raise(flag, text, item.strip(), allowed) for item in body.split(",")]
    if any(v < minimum or (maximum is not None and v > maximum) for v in values):
        raise UsageError.for_flag(flag, text, allowed)
    return tuple(sorted(set(values)))


def parse_int(flag: str, text: str, minimum: int) -> int:
    """Parse one integer ``>= minimum``."""
    allowed = f"use an integer >= {minimum}"
    value = _int_or_raise(flag, str(text), str(text).strip(), allowed)
    if value < minimum:
        raise UsageError.for_flag(flag, text, allowed)
    return value


def parse_positive_float(flag: str, text: str) -> float:
    """Parse one finite float ``> 0``."""
    allowed = "use a finite number > 0"
    try:
        value = float(text)
    except ValueError:
        raise UsageError.for_flag(flag, text, allowed) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError.for_flag(flag, text, allowed)
    return value


def parse_float_list(
    flag: str, text: str, low: float = 0.0, high: float = 1.0
) -> tuple[float, ...]:
    """Parse a comma list of floats in ``(low, high]`` into a sorted tuple of distinct values."""
    allowed = f"use numbers in ({low:g}, {high:g}], comma-separated (0.1,0.5,1)"
    values = []
    for item in str(text).split(","):
        try:
            value = float(item)
        except ValueError:
            raise UsageError.for_flag(flag, text, allowed) from None
        if not math.isfinite(value) or not low < value <= high:
            raise UsageError.for_flag(flag, text, allowed)
        values.append(value)
    return tuple(sorted(set(values)))


def parse_choices(flag: str, text: str, choices: Sequence[str]) -> tuple[str, ...]:
    """Parse a comma list of names from ``choices`` (order kept, duplicates dropped)."""
    allowed = f"use one or more of {', '.join(choices)}, comma-separated"
    items = [item.strip() for item in str(text).split(",")]
    if not items or any(item not in choices for item in items):
        raise UsageError.for_flag(flag, text, allowed)
    return tuple(dict.fromkeys(items))
