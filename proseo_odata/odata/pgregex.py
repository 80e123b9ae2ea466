"""``matchesPattern``'s RE2 patterns written as PostgreSQL regular expressions that match the
same texts.

SQLite and the Python predicate (subscriptions) evaluate ``matchesPattern`` with RE2
(:mod:`proseo_odata.odata.regex`); PostgreSQL evaluates a literal pattern with its own ``~``,
given :func:`to_postgresql`'s translation of it. PostgreSQL's regular expressions (AREs) agree
with RE2 on the common part and differ beyond it: ``\\b`` is a backspace there, ``.`` matches a
newline, ``\\d``, ``\\w``, ``\\s`` and the POSIX classes follow the locale where RE2's are ASCII,
``(?i)`` is taken only at the start and folds case by the locale, ``\\z``, ``\\pL`` and ``\\Q...\\E``
do not exist, repetition counts stop at 255. So the translation keeps nothing of PostgreSQL's
own classes, flags or word boundaries:

* every character class (``[...]``, ``\\d``, ``\\w``, ``\\s``, ``[[:alpha:]]``, ``\\pL``,
  ``\\p{Greek}``, ``.``) and, under ``(?i)``, every letter becomes a bracket of code-point ranges
  (ASCII punctuation and control characters as ``\\u`` escapes), its members the ones RE2 gives
  it: Unicode classes and case folding are read from RE2 itself (:func:`_unicode_class`,
  :func:`_folded`), so the translation follows the RE2 it runs beside; a class with no member is
  ``\\u0000``, which no PostgreSQL text holds;
* ``\\b``, ``\\B`` and the ``(?m)`` forms of ``^`` and ``$`` become look-arounds; ``\\A`` and ``\\z``
  become ``^`` and ``$``;
* repetitions above 255 are nested (``a{600}`` is ``(?:(?:a){255}){2}(?:a){90}``); lazy
  repetitions become greedy ones (whether a text matches does not depend on it); groups do not
  capture.

A pattern is translated only after :func:`proseo_odata.odata.regex.compile_pattern` has accepted
it (the binder's check): the translation reads RE2's syntax and does not check it again. That
check also refuses, on every backend, what :func:`untranslatable` finds: ``\\C`` (one byte of
UTF-8, which has no counterpart) and groups nested deeper than the translation's recursion can
go.
"""
from __future__ import annotations

import bisect
import functools
from typing import List, Optional, Tuple

import re2

__all__ = ["MAX_GROUP_DEPTH", "to_postgresql", "untranslatable"]

_MAX = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
#: PostgreSQL's largest repetition count (``DUPMAX``); RE2's is 1000.
_PG_DUPMAX = 255
#: Deepest nesting of groups translated (RE2 takes 1000; :class:`_Translator` reads groups
#: recursively, within Python's recursion limit): :func:`untranslatable` refuses more.
MAX_GROUP_DEPTH = 100

Ranges = Tuple[Tuple[int, int], ...]


def _normal(ranges) -> Ranges:
    """Sorted, merged ranges without the surrogates (no text holds one)."""
    pieces = []
    for lo, hi in ranges:  # each without the surrogates: the part below them and the part above
        for part in ((lo, min(hi, _SURROGATES[0] - 1)), (max(lo, _SURROGATES[1] + 1), hi)):
            if part[0] <= part[1]:
                pieces.append(part)
    pieces.sort()
    merged: List[List[int]] = []
    for lo, hi in pieces:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        elif merged and merged[-1][1] == _SURROGATES[0] - 1 and lo == _SURROGATES[1] + 1:
            merged[-1][1] = hi  # adjacent across the surrogates: one range
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _complement(ranges: Ranges) -> Ranges:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _MAX:
        out.append((start, _MAX))
    return _normal(out)


def _chars(*chars: str) -> Ranges:
    return _normal((ord(c), ord(c)) for c in chars)


_DIGIT = ((0x30, 0x39),)
_UPPER = ((0x41, 0x5A),)
_LOWER = ((0x61, 0x7A),)
_WORD = _normal(_DIGIT + _UPPER + _LOWER + ((0x5F, 0x5F),))
#: RE2's Perl classes (ASCII; ``\\s`` has no vertical tab).
_PERL = {"d": _DIGIT, "s": _chars("\t", "\n", "\f", "\r", " "), "w": _WORD}
#: RE2's POSIX classes (ASCII).
_POSIX = {
    "alnum": _normal(_DIGIT + _UPPER + _LOWER),
    "alpha": _normal(_UPPER + _LOWER),
    "ascii": ((0, 0x7F),),
    "blank": _chars("\t", " "),
    "cntrl": ((0, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": _LOWER,
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": _UPPER,
    "word": _WORD,
    "xdigit": _normal(_DIGIT + ((0x41, 0x46), (0x61, 0x66))),
}
_ESCAPED = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=None)
def _universe() -> str:
    """Every code point but the surrogates, in order, as one text."""
    return "".join(map(chr, range(_SURROGATES[0]))) + "".join(map(chr, range(_SURROGATES[1] + 1, _MAX + 1)))


def _code_point(offset: int) -> int:
    """The code point at ``offset`` of :func:`_universe`."""
    return offset if offset < _SURROGATES[0] else offset + (_SURROGATES[1] - _SURROGATES[0] + 1)


@functools.lru_cache(maxsize=None)
def _unicode_class(name: str) -> Ranges:
    """The members of the Unicode class ``name`` (``L``, ``Lu``, ``Greek``), read from RE2 over
    every code point (about 0.1 s). Kept for good: RE2 knows a few hundred class names, and a
    pattern with a name it does not know never gets here."""
    runs = re2.compile(f"\\p{{{name}}}+", options=_OPTIONS).finditer(_universe())
    return tuple((_code_point(m.start()), _code_point(m.end() - 1)) for m in runs)


@functools.lru_cache(maxsize=None)
def _cased() -> Tuple[str, Tuple[int, ...]]:
    """The code points that have a case mapping, as one text and sorted. RE2's case folding
    relates only these to one another (every other code point folds to itself alone)."""
    cased = []
    for start in range(0, _MAX + 1, 256):  # most blocks have no case at all: tested whole (0.5 s -> 0.2 s)
        block = "".join(map(chr, range(start, min(start + 256, _MAX + 1))))
        if block.lower() != block or block.upper() != block or block.casefold() != block:
            cased.extend(c for c in block if c.lower() != c or c.upper() != c or c.casefold() != c)
    return "".join(cased), tuple(map(ord, cased))


@functools.lru_cache(maxsize=256)
def _folded(ranges: Ranges, source: str) -> Ranges:
    """``ranges`` (the members of RE2 class ``source`` without ``(?i)``) with ``(?i)`` applied:
    the code points without a case mapping are as they were; which of those with one belong is
    RE2's answer for ``(?i)source``."""
    text, points = _cased()
    before = set()
    for lo, hi in ranges:
        before.update(points[bisect.bisect_left(points, lo):bisect.bisect_right(points, hi)])
    after = set()
    for run in re2.compile(f"(?i)(?:{source})+", options=_OPTIONS).finditer(text):
        after.update(points[run.start():run.end()])
    removed = sorted(before - after)  # usually none or a few: ranges are cut only there
    kept = []
    for lo, hi in ranges:
        for point in removed[bisect.bisect_left(removed, lo):bisect.bisect_right(removed, hi)]:
            if point > lo:
                kept.append((lo, point - 1))
            lo = point + 1
        if lo <= hi:
            kept.append((lo, hi))
    return _normal(kept + [(point, point) for point in after - before])


def _char_source(point: int) -> str:
    return "\\x{%x}" % point


def _escape(point: int) -> str:
    """One character for PostgreSQL, in or out of a bracket: ASCII letters, digits, ``_`` and
    the characters beyond Latin-1's controls as themselves (a class of thousands of letters
    stays a few kilobytes), everything else (punctuation, controls, NUL, a surrogate) as a
    ``\\u``/``\\U`` escape."""
    char = chr(point)
    if (char.isascii() and (char.isalnum() or char == "_")) or (0xA0 <= point and not 0xD800 <= point <= 0xDFFF):
        return char
    return "\\u%04x" % point if point <= 0xFFFF else "\\U%08x" % point


def _bracket(ranges: Ranges) -> str:
    """A PostgreSQL atom matching one character of ``ranges``."""
    if not ranges:
        return "\\u0000"  # no PostgreSQL text holds NUL; a constraint such as "(?!)" compiled slowly
    negated = _complement(ranges)
    if not negated:
        return "."  # PostgreSQL's "." takes every character, the newline too (no newline-sensitive mode)
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _escape(ranges[0][0])
    inverse = len(negated) < len(ranges)
    parts = []
    for lo, hi in negated if inverse else ranges:
        parts.append(_escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}")
    return ("[^" if inverse else "[") + "".join(parts) + "]"


_WORD_BRACKET = _bracket(_WORD)
_ANCHORS = {
    "A": "^",
    "z": "$",
    "b": f"(?:(?<={_WORD_BRACKET})(?!{_WORD_BRACKET})|(?<!{_WORD_BRACKET})(?={_WORD_BRACKET}))",
    "B": f"(?:(?<={_WORD_BRACKET})(?={_WORD_BRACKET})|(?<!{_WORD_BRACKET})(?!{_WORD_BRACKET}))",
}
_LINE_START = "(?:^|(?<=\\u000a))"
_LINE_END = "(?:$|(?=\\u000a))"


def _repeat(atom: str, low: int, high: Optional[int]) -> str:
    """``atom`` repeated ``low`` to ``high`` (None: no limit) times in counts PostgreSQL takes."""
    group = f"(?:{atom})"
    if (low, high) == (0, None):
        return group + "*"
    if (low, high) == (1, None):
        return group + "+"
    if (low, high) == (0, 1):
        return group + "?"
    if low <= _PG_DUPMAX and (high is None or high <= _PG_DUPMAX):
        return group + ("{%d,}" % low if high is None else "{%d}" % low if high == low else "{%d,%d}" % (low, high))
    parts = []
    times, rest = divmod(low, _PG_DUPMAX)
    if times:
        parts.append(f"(?:{group}{{{_PG_DUPMAX}}})" + (f"{{{times}}}" if times > 1 else ""))
    if rest:
        parts.append(f"{group}{{{rest}}}")
    if high is None:
        parts.append(group + "*")
    elif high > low:
        times, rest = divmod(high - low, _PG_DUPMAX)
        if times:
            parts.append(f"(?:{group}{{0,{_PG_DUPMAX}}})" + (f"{{{times}}}" if times > 1 else ""))
        if rest:
            parts.append(f"{group}{{0,{rest}}}")
    return "".join(parts)


def _count(text: str) -> bool:
    """Whether RE2 reads ``text`` as a repetition count: at most 9 ASCII digits, no leading
    zero. Otherwise the whole ``{...}`` is literal text (``a{01}`` matches "a{01}")."""
    return text.isascii() and text.isdigit() and len(text) <= 9 and (text == "0" or text[0] != "0")


class _Atom:
    """A translated atom (or sequence, or alternation): its PostgreSQL text, whether it is an
    assertion (it matches only the empty string: ``^``, ``\\b``, ``()``), and whether it can match
    the empty string between two bytes of one UTF-8 character (:meth:`_Translator.translate`)."""

    __slots__ = ("text", "assertion", "inside")

    def __init__(self, text: str, *, assertion: bool = False, inside: bool = False):
        self.text, self.assertion, self.inside = text, assertion, inside

    def repeated(self, low: int, high: Optional[int]) -> "_Atom":
        if self.assertion:  # an assertion repeated is itself, or nothing when it may be absent
            return self if low else _Atom("(?:)", inside=True)
        return _Atom(_repeat(self.text, low, high), inside=self.inside or low == 0)


class _Translator:
    """A recursive-descent reader of RE2's syntax writing PostgreSQL's."""

    def __init__(self, pattern: str):
        self.text = pattern
        self.pos = 0
        self.fold = self.multiline = self.dotall = False

    # -- structure ------------------------------------------------------------------------

    def translate(self) -> str:
        whole = self.alternation()
        if self.pos != len(self.text):  # an unbalanced ")": RE2 refused the pattern already
            raise ValueError(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        out = whole.text
        if whole.inside:
            # RE2 matches UTF-8 bytes: between two bytes of one character both sides are
            # "not a word character", so "\B" holds there, and a pattern that can match the
            # empty string with no other assertion matches any text holding such a character.
            out = f"(?:{out})|[\\u0080-\\U0010ffff]"
        return out

    def alternation(self) -> _Atom:
        branches = [self.concatenation()]
        while self.peek("|"):
            self.pos += 1
            branches.append(self.concatenation())
        return _Atom("|".join(branch.text for branch in branches),
                     assertion=all(branch.assertion for branch in branches),
                     inside=any(branch.inside for branch in branches))

    def concatenation(self) -> _Atom:
        parts: List[_Atom] = []
        while self.pos < len(self.text) and self.text[self.pos] not in "|)":
            if self.peek("\\Q"):  # literal characters, each an atom (a repetition takes the last)
                parts.extend(_Atom(self.literal(ord(c))) for c in self.quoted())
            else:
                atom = self.atom()
                if atom is not None:  # None: a flag group, "(?i)", which a repetition looks through
                    parts.append(atom)
            while parts:
                bounds = self.repetition()
                if bounds is None:
                    break
                parts[-1] = parts[-1].repeated(*bounds)
        return _Atom("".join(part.text for part in parts), assertion=all(part.assertion for part in parts),
                     inside=all(part.inside for part in parts))

    def repetition(self) -> Optional[Tuple[int, Optional[int]]]:
        if self.pos >= len(self.text):
            return None
        char = self.text[self.pos]
        if char in "*+?":
            self.pos += 1
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{":
            bounds = self.counted()
            if bounds is None:
                return None
        else:
            return None
        if self.peek("?"):  # lazy: whether the text matches does not depend on it
            self.pos += 1
        return bounds

    def counted(self) -> Optional[Tuple[int, Optional[int]]]:
        """``{n}``, ``{n,}``, ``{n,m}`` at the position, consumed; None (nothing consumed) when
        the "{" is a literal one, as RE2 reads ``{``, ``{,3}`` or ``a{x}``."""
        end = self.text.find("}", self.pos)
        if end < 0:
            return None
        inner = self.text[self.pos + 1:end]
        low, comma, high = inner.partition(",")
        if not _count(low) or (high and not _count(high)):
            return None
        self.pos = end + 1
        if not comma:
            return int(low), int(low)
        return int(low), (int(high) if high else None)

    def atom(self) -> Optional[_Atom]:
        """The next atom, None for a flag group."""
        char = self.text[self.pos]
        if char == "(":
            return self.group()
        if char == "[":
            return _Atom(self.class_atom(self.char_class()))
        if char == ".":
            self.pos += 1
            return _Atom(_bracket(_complement(()) if self.dotall else _complement(_chars("\n"))))
        if char == "^":
            self.pos += 1
            return _Atom(_LINE_START if self.multiline else "^", assertion=True)
        if char == "$":
            self.pos += 1
            return _Atom(_LINE_END if self.multiline else "$", assertion=True)
        if char == "\\":
            return self.escape()
        self.pos += 1
        return _Atom(self.literal(ord(char)))

    def group(self):
        start = self.pos
        self.pos += 1
        saved = (self.fold, self.multiline, self.dotall)
        if self.peek("?"):
            self.pos += 1
            if self.peek("P<") or self.peek("<"):  # a named group: "(?P<name>re)", "(?<name>re)"
                self.pos = self.text.index(">", self.pos) + 1
            else:
                scoped = self.flags()
                if not scoped:  # "(?i)": the flags hold to the end of the enclosing group
                    return None
        inner = self.alternation()
        if not self.peek(")"):
            raise ValueError(f"unbalanced group at {start}")
        self.pos += 1
        self.fold, self.multiline, self.dotall = saved
        return _Atom(f"(?:{inner.text})", assertion=inner.assertion, inside=inner.inside)

    def flags(self) -> bool:
        """Reads ``i-s`` up to ")" (consumed; False: the flags hold from here) or ":" (consumed;
        True: a group follows)."""
        on = True
        while True:
            char = self.text[self.pos]
            self.pos += 1
            if char == "-":
                on = False
            elif char == "i":
                self.fold = on
            elif char == "m":
                self.multiline = on
            elif char == "s":
                self.dotall = on
            elif char == "U":
                pass  # greediness: whether the text matches does not depend on it
            elif char == ")":
                return False
            elif char == ":":
                return True
            else:
                raise ValueError(f"unknown flag {char!r}")

    # -- characters -----------------------------------------------------------------------

    def literal(self, point: int) -> str:
        if self.fold:
            return _bracket(_folded(((point, point),), _char_source(point)))
        return _escape(point)

    def class_atom(self, ranges_source: Tuple[Ranges, str]) -> str:
        ranges, source = ranges_source
        if self.fold:
            ranges = _folded(ranges, source)
        return _bracket(ranges)

    def escape(self) -> _Atom:
        """An escape outside a bracket (not ``\\Q``)."""
        start = self.pos
        kind = self.text[self.pos + 1]
        if kind in _ANCHORS:
            self.pos += 2
            return _Atom(_ANCHORS[kind], assertion=True, inside=kind == "B")
        if kind == "C":
            raise ValueError("\\C (one byte of UTF-8) has no PostgreSQL counterpart")
        ranges = self.class_escape()
        if ranges is not None:
            return _Atom(self.class_atom((ranges, self.text[start:self.pos])))
        return _Atom(self.literal(self.char_escape()))

    def quoted(self) -> str:
        """The text of ``\\Q...\\E`` (or ``\\Q...`` to the end) at the position, consumed."""
        end = self.text.find("\\E", self.pos + 2)
        end = len(self.text) if end < 0 else end
        literal = self.text[self.pos + 2:end]
        self.pos = min(end + 2, len(self.text))
        return literal

    def class_escape(self) -> Optional[Ranges]:
        """``\\d \\D \\s \\S \\w \\W \\pX \\p{..} \\PX \\P{..}`` at the position (consumed), or None
        (nothing consumed)."""
        kind = self.text[self.pos + 1]
        if kind.lower() in _PERL:
            self.pos += 2
            ranges = _PERL[kind.lower()]
            return _complement(ranges) if kind.isupper() else ranges
        if kind in "pP":  # \pL, \p{Greek}, \P{Lu}, \p{^Lu}
            if self.text[self.pos + 2] == "{":
                end = self.text.index("}", self.pos)
                name = self.text[self.pos + 3:end]
                self.pos = end + 1
            else:
                name = self.text[self.pos + 2]
                self.pos += 3
            members = _unicode_class(name.lstrip("^"))
            return _complement(members) if (kind == "P") != name.startswith("^") else members
        return None

    def char_escape(self) -> int:
        """A one-character escape at the position (consumed): its code point."""
        kind = self.text[self.pos + 1]
        self.pos += 2
        if kind in _ESCAPED:
            return _ESCAPED[kind]
        if kind in "01234567":  # octal, up to three digits
            digits = kind
            while len(digits) < 3 and self.pos < len(self.text) and self.text[self.pos] in "01234567":
                digits += self.text[self.pos]
                self.pos += 1
            return int(digits, 8)
        if kind == "x":
            if self.peek("{"):
                end = self.text.index("}", self.pos)
                value = int(self.text[self.pos + 1:end], 16)
                self.pos = end + 1
                return value
            value = int(self.text[self.pos:self.pos + 2], 16)
            self.pos += 2
            return value
        return ord(kind)  # an escaped punctuation character

    def char_class(self) -> Tuple[Ranges, str]:
        """A bracket ``[...]`` at the position (consumed): its members without ``(?i)``, and its
        RE2 text."""
        start = self.pos
        self.pos += 1
        negated = self.peek("^")
        if negated:
            self.pos += 1
        ranges: List[Tuple[int, int]] = []
        first = True
        while first or not self.peek("]"):
            first = False
            end = self.text.find(":]", self.pos + 2) if self.peek("[:") else -1
            if end >= 0:  # "[:alpha:]"; without a closing ":]" the "[" is a member ("[[:]")
                name = self.text[self.pos + 2:end]
                self.pos = end + 2
                members = _POSIX[name.lstrip("^")]
                ranges.extend(_complement(members) if name.startswith("^") else members)
                continue
            if self.peek("\\"):
                members = self.class_escape()
                if members is not None:
                    ranges.extend(members)
                    continue
            low = self.class_char()
            if self.peek("-") and self.text[self.pos + 1] != "]":
                self.pos += 1
                ranges.append((low, self.class_char()))
            else:
                ranges.append((low, low))
        self.pos += 1
        members = _normal(ranges)
        return (_complement(members) if negated else members), self.text[start:self.pos]

    def class_char(self) -> int:
        if self.peek("\\"):
            return self.char_escape()
        self.pos += 1
        return ord(self.text[self.pos - 1])

    def peek(self, text: str) -> bool:
        return self.text.startswith(text, self.pos)


def untranslatable(pattern: str) -> Optional[str]:
    """Why a pattern RE2 accepted cannot be translated (:func:`to_postgresql`), or None: ``\\C``
    outside ``\\Q...\\E`` (one byte of a character's UTF-8 encoding, which PostgreSQL cannot
    match), or groups nested deeper than :data:`MAX_GROUP_DEPTH`. A light scan (brackets and
    quoted text skipped, nothing else read), run on every backend by
    :func:`proseo_odata.odata.regex.compile_pattern`."""
    position = depth = 0
    while position < len(pattern):
        char = pattern[position]
        if pattern.startswith("\\Q", position):
            end = pattern.find("\\E", position + 2)
            position = len(pattern) if end < 0 else end + 2
        elif char == "\\":
            if pattern.startswith("C", position + 1):
                return "\\C matches one byte of a character's UTF-8 encoding: use . for a character"
            position += 2
        elif char == "[":
            position = _class_end(pattern, position)
        else:
            if char == "(":
                depth += 1
                if depth > MAX_GROUP_DEPTH:
                    return f"groups are nested more than {MAX_GROUP_DEPTH} deep"
            elif char == ")":
                depth -= 1
            position += 1
    return None


def _class_end(pattern: str, position: int) -> int:
    """The position after the bracket ``[...]`` that starts at ``position`` (RE2's reading: a
    ``]`` first is a member, ``[:name:]`` is one item, a backslash escapes the next character)."""
    position += 2 if pattern.startswith("[^", position) else 1
    if pattern.startswith("]", position):
        position += 1
    while position < len(pattern) and pattern[position] != "]":
        end = pattern.find(":]", position + 2) if pattern.startswith("[:", position) else -1
        position = end + 2 if end >= 0 else position + (2 if pattern[position] == "\\" else 1)
    return position + 1


@functools.lru_cache(maxsize=64)
def to_postgresql(pattern: str) -> str:
    """A PostgreSQL regular expression (for ``~``) that matches exactly the texts in which RE2's
    ``pattern`` finds a match. ``pattern`` must be one RE2 accepts
    (:func:`proseo_odata.odata.regex.compile_pattern`); kept for the next call with the same
    text."""
    return _Translator(pattern).translate()
