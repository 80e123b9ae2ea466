"""Workflow option values: their types, their canonical text, and the production type they give.

The rules of contract section 10 for one option value, shared by order validation
(:mod:`proseo_odata.orders.validation`), workflow configuration
(:mod:`proseo_odata.production.workflows`) and the engine::

    from proseo_odata.model.options import check_option_value, production_type_for

    check_option_value(option, "png")                 # "PNG": the allowed spelling; ValueError with the reason
    production_type_for(workflow, {"ImageFormat": "PNG"})   # ProductionType.ON_DEMAND_NON_DEFAULT
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional

from .entities import INT64_MAX, INT64_MIN, Workflow, WorkflowOption
from .enums import OptionType, ProductionType
from .times import parse_datetime

__all__ = ["MAX_OPTION_NAME_LENGTH", "MAX_OPTION_VALUE_BYTES", "check_option_value", "has_offset",
           "production_type_for", "scalar_text"]

#: The longest option value, in bytes of UTF-8, and option name, in characters: together they fit
#: in one entry of a PostgreSQL B-tree index (at most 2,704 bytes; the index on option names and
#: values serves filters on ``WorkflowOptions``).
MAX_OPTION_VALUE_BYTES = 2000
MAX_OPTION_NAME_LENGTH = 100

# ASCII digits only (``\d`` also takes other scripts' digits, which int() and float() accept) and
# nothing after them (``$`` allows a final newline).
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")

_OFFSET = re.compile(r"[Tt ].*([zZ]|[+-][0-9]{2}:?[0-9]{2})\Z")


def has_offset(text: str) -> bool:
    """True when the date-time ``text`` ends with its offset (``Z``, ``+01:00``): what a client's
    ``DateTimeOffset`` option value must have (a workflow file's defaults may leave it out, UTC)."""
    return bool(_OFFSET.search(text.strip()))


def _integer(text: str) -> Optional[int]:
    """``text`` as an integer when it is one of at most 30 digits (Python's int() refuses more
    than 4,300), else None."""
    if not _INTEGER.match(text) or len(text.lstrip("+-").lstrip("0")) > 30:
        return None
    return int(text)


def scalar_text(value: Any) -> Optional[str]:
    """A JSON scalar as the option's text form; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return None


def _typed(option_type: OptionType, text: str):
    """Parse ``text`` as ``option_type``: the comparable value; raises ValueError with a reason."""
    text = text.strip() if option_type is not OptionType.STRING else text
    if option_type is OptionType.STRING:
        return text
    if option_type is OptionType.INTEGER:
        if not _INTEGER.match(text):
            raise ValueError("is not an Integer")
        number = _integer(text)
        if number is None or not INT64_MIN <= number <= INT64_MAX:
            raise ValueError("is outside the Integer (Int64) range")
        return number
    if option_type in (OptionType.DOUBLE, OptionType.NUMBER):
        if not _NUMBER.match(text):
            raise ValueError(f"is not a {option_type.value}")
        number = float(text)
        if math.isinf(number) or math.isnan(number):
            raise ValueError(f"is not a finite {option_type.value}")
        return number
    if option_type is OptionType.BOOLEAN:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError("is not a Boolean (true or false)")
        return lowered == "true"
    if option_type is OptionType.DATETIMEOFFSET:
        try:
            return parse_datetime(text)
        except ValueError:
            raise ValueError("is not a DateTimeOffset such as 2016-01-17T10:34:51.922Z") from None
    if option_type is OptionType.DATENUMBER:
        number = _integer(text)
        if number is None or not 1 <= number <= 366:
            raise ValueError("is not a DateNumber (a day of the year, 1..366)")
        return number
    raise ValueError(f"has an unknown option type {option_type}")  # pragma: no cover - enum is closed


def _canonical(option_type: OptionType, text: str, typed) -> str:
    if option_type is OptionType.BOOLEAN:
        return "true" if typed else "false"
    return text.strip() if option_type is not OptionType.STRING else text


def check_option_value(option: WorkflowOption, text: str) -> str:
    """The value to store for ``option`` given ``text``; raises ValueError with the reason.

    Checks the type and the allowed values (String values match the allowed ones without regard
    to case and take their spelling; typed values compare by value, so ``07`` matches ``7``).
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_OPTION_VALUE_BYTES:
        raise ValueError(f"is longer than {MAX_OPTION_VALUE_BYTES:,} bytes (UTF-8)")
    if "\x00" in text:
        raise ValueError("holds a NUL character")
    typed = _typed(option.type, text)
    if option.allowed_values:
        for allowed in option.allowed_values:
            try:
                allowed_typed = _typed(option.type, allowed)
            except ValueError:
                continue
            if option.type is OptionType.STRING:
                if allowed_typed.casefold() == typed.casefold():
                    return allowed
            elif allowed_typed == typed:
                return allowed
        raise ValueError(f"is not one of the allowed values {', '.join(option.allowed_values)}")
    return _canonical(option.type, text, typed)


def _is_default(option: WorkflowOption, value: Optional[str]) -> bool:
    if value is None:
        return True
    if option.default is None:
        return False
    if option.type is OptionType.STRING:
        return value == option.default
    try:
        return _typed(option.type, value) == _typed(option.type, option.default)
    except ValueError:
        return value == option.default


def production_type_for(workflow: Workflow, options: Mapping[str, str]) -> ProductionType:
    """``on-demand:default`` when every option has its default value, else ``on-demand:non-default``."""
    for option in workflow.options:
        if not _is_default(option, options.get(option.name)):
            return ProductionType.ON_DEMAND_NON_DEFAULT
    return ProductionType.ON_DEMAND_DEFAULT
