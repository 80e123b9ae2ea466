"""The OASIS CSDL schemas (vendored verbatim in ``tests/data/odata-csdl/``, see its README for
their origin and licence) as validators for ``$metadata`` documents.

* :func:`xml_errors`: CSDL XML against ``edmx.xsd`` (which imports ``edm.xsd``), with
  ``xmlschema`` (XSD 1.1, as the schemas' README shows).
* :func:`json_errors`: CSDL JSON against ``csdl.schema.json`` with ``jsonschema``. The schema's
  patterns are ECMA-262 regular expressions with Unicode property escapes (``\\p{L}``), which
  Python's ``re`` (``jsonschema``'s engine) cannot compile; the three keywords that use patterns
  (``pattern``, ``patternProperties``, ``additionalProperties`` next to ``patternProperties``)
  and the ``regex`` format are evaluated here with the ``regex`` module, which has them. Every
  other keyword is ``jsonschema``'s own Draft 7 implementation.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import regex
import xmlschema
from jsonschema import Draft7Validator, FormatChecker, ValidationError, validators

SCHEMAS = Path(__file__).parent / "data" / "odata-csdl"


@functools.lru_cache(maxsize=1)
def xml_schema() -> xmlschema.XMLSchema11:
    return xmlschema.XMLSchema11(str(SCHEMAS / "edmx.xsd"))


def xml_errors(document: bytes) -> list[str]:
    """Every violation of the CSDL XML schema by ``document`` (empty: valid)."""
    return [str(error) for error in xml_schema().iter_errors(document.decode("utf-8"))]


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str):
    return regex.compile(pattern)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _compiled(pattern).search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [_compiled(p) for p in schema.get("patternProperties", {})]
    extras = [name for name in instance
              if name not in properties and not any(p.search(name) for p in patterns)]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)")


_ECMAValidator = validators.extend(
    Draft7Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)

_FORMATS = FormatChecker()


@_FORMATS.checks("regex", raises=regex.error)
def _is_regex(text) -> bool:
    return not isinstance(text, str) or bool(_compiled(text))


@functools.lru_cache(maxsize=1)
def json_validator():
    schema = json.loads((SCHEMAS / "csdl.schema.json").read_text(encoding="utf-8"))
    # The schema itself must be a valid Draft 7 schema (its regexes checked with ``regex``).
    _ECMAValidator(Draft7Validator.META_SCHEMA, format_checker=_FORMATS).validate(schema)
    return _ECMAValidator(schema, format_checker=_FORMATS)


def json_errors(document) -> list[str]:
    """Every violation of the CSDL JSON schema by ``document`` (a decoded object or bytes)."""
    if isinstance(document, (bytes, str)):
        document = json.loads(document)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in json_validator().iter_errors(document)]
