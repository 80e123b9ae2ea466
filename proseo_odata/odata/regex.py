"""``matchesPattern``'s regular expressions, evaluated with RE2 (Google's ``google-re2``).

RE2 takes time linear in the text whatever the pattern: no pattern can backtrack for ever. With
Python's ``re`` a pattern such as ``^(\\w+_?)*!`` took seconds for a 24-character name and longer
than any request for a whole one, holding the interpreter's lock, so one ``GET`` stopped every
thread of the server (and a subscription's ``FilterParam`` would have stopped the publishing
worker). The SQLite SQL compiler (``proseo_odata_matches``, see :mod:`proseo_odata.odata.sql`),
the Python predicate (subscriptions) and the binder's check of a literal pattern all use
:func:`compile_pattern`, so they accept the same syntax and give the same answers.

RE2's syntax is the common one (classes, anchors, alternation, repetition up to ``{1000}``,
``(?i)``); it has no backreferences and no look-around, and ``\\w``, ``\\d``, ``\\b`` are ASCII.
``\\C`` (one byte of a character's UTF-8 encoding) is refused: OData strings are characters, and
PostgreSQL has no counterpart. PostgreSQL evaluates a literal pattern with its own ``~``, given
:func:`proseo_odata.odata.pgregex.to_postgresql`'s translation of it, which matches the same texts,
bounded by its statement timeout; a literal pattern is checked here on every backend first.
"""
from __future__ import annotations

import functools

import re2

from .pgregex import untranslatable

__all__ = ["PatternError", "compile_pattern", "matches"]

#: RE2 logs a pattern it cannot compile to stderr unless told not to; the error says it instead.
#: A compiled pattern may use up to ``max_mem`` bytes (its program and its DFA's cache; RE2's
#: default is 8 MiB): 1 MiB, so that the :data:`PATTERNS` kept take at most 64 MiB whatever
#: patterns clients send. A pattern that needs more is refused as too large.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 1 << 20

#: Compiled patterns kept for the next filter with the same text.
PATTERNS = 64


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message is RE2's reason (``missing ]: [``)."""


@functools.lru_cache(maxsize=PATTERNS)
def compile_pattern(pattern: str):
    """The compiled pattern (kept for the next call with the same text; a compiled RE2 may be
    used by several threads). Raises :class:`PatternError` for a pattern RE2 cannot compile
    (bad syntax, a backreference or look-around, one too large for its memory budget, or text
    that is not valid Unicode) or one PostgreSQL could not be given
    (:func:`~proseo_odata.odata.pgregex.untranslatable`),
    so that every backend accepts the same patterns."""
    try:
        compiled = re2.compile(pattern, options=_OPTIONS)
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 text for RE2
        raise PatternError("the pattern is not valid Unicode text") from None
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(str(reason)) from None
    reason = untranslatable(pattern)
    if reason:
        raise PatternError(reason)
    return compiled


def matches(text: str, pattern: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (OData's ``matchesPattern``)."""
    return compile_pattern(pattern).search(text) is not None
