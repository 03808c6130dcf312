"""Rule regexes, matched in linear time: no rule can freeze the proxy.

Python's `re` backtracks: the rule `^(a+)+$` against a 27-character header
held the proxy's event loop for 9 s. Rules are compiled with RE2 instead,
whose matching time grows linearly with the value, whatever the pattern.
Its syntax is Python's without the features that need backtracking:
backreferences (`\\1`, `(?P=name)`), lookaround (`(?=` `(?!` `(?<=` `(?<!`),
possessive and atomic groups, `\\Z` (write `\\z`). `validate` refuses the rest
with RE2's reason. A value longer than MAX_VALUE bytes never matches a
regex rule (its request follows the weights), so a match costs microseconds.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable

MAX_VALUE = 8192
ALLOWED = ("RE2 syntax, matched in linear time: Python's regex syntax without backreferences "
           "(\\1), lookaround ((?=...), (?!...), (?<=...), (?<!...)) or \\Z (use \\z)")


@cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, loaded at the first rule: every config load imports this
    module (the strategies' header rules), and most configs have no regex rule."""
    import re2  # google-re2: no types ([tool.mypy] in pyproject.toml says so)
    options = re2.Options()
    options.log_errors = False  # the reason goes into our error, not to stderr
    options.never_capture = True  # only "does it match" is asked: faster
    return re2, options


class RegexError(ValueError):
    """A pattern RE2 cannot run; the message says why and what is allowed."""


def check(pattern: str) -> str:
    """`pattern` if RE2 accepts it; RegexError naming the reason otherwise."""
    compile_rule(pattern)
    return pattern


def compile_rule(pattern: str) -> Callable[[bytes], bool]:
    """A test of one header or cookie value: does `pattern` match somewhere in it."""
    re2, options = _re2()
    try:
        search = re2.compile(pattern, options).search
    except re2.error as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) \
            else str(e)
        raise RegexError(f"{reason} (allowed: {ALLOWED})") from None
    except (TypeError, ValueError) as e:  # e.g. a lone surrogate in the pattern
        raise RegexError(f"{e} (allowed: {ALLOWED})") from None
    return lambda value: len(value) <= MAX_VALUE and search(value) is not None
