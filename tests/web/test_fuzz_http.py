"""Bad input never breaks the services (contract section 9): a seeded, bounded fuzz of the whole
HTTP surface of PRIP and ODIP through the real application (WebTest).

Every case is a request built from a valid one by a random mutation:

- query strings: the client filters of contract section 6 truncated, with characters and tokens
  inserted, deleted, duplicated and swapped, random unicode, NUL bytes, overlong and deeply
  nested inputs, invalid percent escapes (``%zz``, ``%``, ``%C3`` alone); every option name with
  garbage values, repeated options, forged ``$skiptoken``, ``$format=xml``;
- paths: malformed keys, unknown segments, trailing slashes, unicode, wrong methods; individual
  properties and their raw values (``Products(<Id>)/Name/$value``, an order's ``Status``);
- headers: malformed ``Authorization`` (Basic garbage, no colon, huge, bearer garbage, a token
  signed with another key), ``Range``, ``If-Range``, ``If-None-Match``, ``If-Modified-Since``,
  ``Accept`` with the JSON format parameters;
- bodies of ``POST Subscriptions``, ``POST ProductionOrder(s)``, the token endpoints and the
  actions: invalid JSON, every field with a value of every wrong type, deep nesting, huge strings,
  form bodies where JSON is expected, wrong ``Content-Type``, empty bodies.

For every answer: the status is below 500; a 4xx has the OData error body
``{"error": {"code": "E<digits>", "message": ...}}`` and a ``Warning`` header of the contract's
form naming the right service and the same code; a JSON success body parses. After the run the
stored data equals the data before plus exactly what the successful requests created or changed
(new subscriptions and orders as answered, actions only on the entities they were sent to), and
the archived files still have their MD5.

The seed and the number of cases are fixed (``FUZZ_SEED``/``FUZZ_CASES`` override them for a
longer local run): SQLite runs every case, PostgreSQL a deterministic subset.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import string
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import jwt
import pytest
import webtest

from prip_helpers import PRIP, TOKEN_SECRET, basic, served_app
from odip_helpers import L1C_NAME, L2A_ID, ODIP, auth, build_world, order_body

SEED = int(os.environ.get("FUZZ_SEED", "20250601"))
#: Cases per service: (SQLite, PostgreSQL).
CASES = {"sqlite": int(os.environ.get("FUZZ_CASES", "1500")), "postgresql": 250}

WARNING = re.compile(r"^\d{3} proseo-api-(prip|odip) \(([EW]\d+)\) .+$")
CODE = re.compile(r"^[EW]\d+$")

# -- the valid inputs the mutations start from --------------------------------------------------

PRIP_FILTERS = [
    "Name eq 'S2B_MSIL1C_20200101_P1_N0208.zip'",
    "contains(Name,'_P1_') or contains(Name,'_P2_') and ContentLength gt 1001",
    "startswith(Name,'S2B_MSIL1C') and ContentDate/Start ge 2020-01-02T00:00:00.000Z",
    "endswith(Name,'.zip') and not (Online eq false)",
    "PublicationDate gt 2020-01-04T14:00:00.123+02:00",
    "PublicationDate lt 2020-01-04T10:00:00.123-02:00",
    "ContentDate/Start lt '2020-01-12T00:00:00.000000Z'",
    "ContentDate/Start eq 2020-01-03T10:00:00.000000000Z",
    "ContentDate/Start lt 2020-01-04T00:00:00",
    "ContentLength in (1001, 1005)",
    "ContentLength add 1 eq 1003",
    "ContentLength mod 2 eq 0 or ContentLength div 2 gt 501.5",
    "ContentLength mul 2 sub 1 ge 2001",
    "ProductionType eq OData.CSC.ProductionType'systematic_production'",
    "ProductionType eq 'on-demand:default'",
    "Id eq a0000000-0000-0000-0000-000000000001",
    "Name eq 'it''s'",
    "length(Name) eq 32 and indexof(Name,'P1') gt 0",
    "substring(Name,0,3) eq 'S2B' and substring(Name,4) ne 'x'",
    "tolower(Name) eq 's2b' or toupper(Name) eq 'S2B' or trim(Name) eq concat('S2B','_x')",
    "matchesPattern(Name,'^S2B_.*P[0-9]_.*$')",
    "year(ContentDate/Start) eq 2020 and month(ContentDate/Start) eq 1 and day(ContentDate/Start) ge 2",
    "hour(ContentDate/Start) eq 10 and minute(ContentDate/End) eq 10 and second(ContentDate/End) eq 0",
    "date(ContentDate/Start) eq 2020-01-02 and time(ContentDate/Start) lt 12:00:00",
    "ContentDate/Start lt now() and EvictionDate gt 2021-01-01T00:00:00Z",
    "ContentDate/End sub ContentDate/Start eq duration'PT10M'",
    "Checksum/any(c:c/Algorithm eq 'MD5' and c/Value ne '')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
    "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
    "att/OData.CSC.StringAttribute/Value in ('S2MSI1C','S2MSI2A'))",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
    "att/OData.CSC.IntegerAttribute/Value lt 10000)",
    "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
    "att/OData.CSC.DoubleAttribute/Value le 40.0)",
    "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and "
    "att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.654Z)",
    "Attributes/OData.CSC.BooleanAttribute/any(att:att/Name eq 'highQuality' and "
    "att/OData.CSC.BooleanAttribute/Value eq true)",
    "Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'RAW')",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
    "att/OData.CSC.StringAttribute/Value eq 123)",
    "Attributes/OData.CSC.StringAttribute/any(att:'S2MSI1C' eq att/OData.CSC.StringAttribute/Value and "
    "'productType' eq att/Name)",
    "Attributes/OData.CSC.StringAttribute/all(a:a/Value ne 'x') and "
    "Attributes/OData.CSC.IntegerAttribute/any(b:b/Name eq 'orbitNumber')",
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((1 40,2 40,2 41,1 41,1 40))')",
    "OData.CSC.Intersects(Footprint=geography'SRID=4326;Polygon ((1.5 40.5,3 40.5,3 42,1.5 40.5))')",
    "OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON(((1 40,2 40,2 41,1 40)),"
    "((5 40,6 40,6 41,5 40)))')",
    "OData.CSC.Intersects(area='SRID=4326;POINT(1.5 40.5)')",
    "OData.CSC.Intersects(area=geography'SRID=4326;LINESTRING(0 40.5,9 40.5)') or "
    "OData.CSC.Intersects(area=geography'SRID=4326;MULTIPOINT((1.5 40.5),(2.5 40.5))')",
    "@p eq Name",
    "Name in (@p, 'x')",  # an alias in a list, a list as an alias (@p below: a string or a JSON array)
    "Name in @p",
    "OData.CSC.Intersects(area=@p)",
]
PRIP_ORDERBY = ["ContentDate/Start desc", "Name asc,ContentLength desc", "PublicationDate", "Id desc"]
PRIP_SELECT = ["Name,Id", "*", "ContentLength", "ContentDate,Checksum"]
PRIP_EXPAND = ["Attributes", "Assets", "*", "Attributes,Assets",
               "Attributes($filter=Value gt 10;$orderby=Name desc;$top=2;$count=true)",
               "Attributes($select=Name,Value;$filter=OData.CSC.DoubleAttribute/Value le 30),Assets($count=true)"]
#: filters and orders of a product's attributes (on Products(<Id>)/Attributes)
ITEM_FILTERS = ["Name eq 'cloudCover'", "Value gt 10 and ValueType ne 'String'", "contains(Value,'S2')",
                "OData.CSC.DateTimeOffsetAttribute/Value lt now()"]
ITEM_ORDERBY = ["Name desc", "OData.CSC.IntegerAttribute/Value,Name", "ValueType"]

SUBSCRIPTION_FILTERS = [
    "Status eq 'running'",
    "Priority gt 1 and StageOrder eq false",
    "contains(NotificationEndpoint,'example') or SubmissionDate gt 2020-01-01T00:00:00Z",
    "LastNotificationDate eq null",
]
WORKFLOW_FILTERS = [
    "Name eq 'S2_L1C_L2A'",
    "InputProductType eq 'S2MSI1C' and contains(OutputProductType,'2A')",
    "startswith(Name,'S2_') or Id eq 2b17b57d-fff4-4645-b539-91f305c83b91",
    "WorkflowOptions/any(o:o/Name eq 'ImageFormat')",
]
ORDER_FILTERS = [
    "Status eq OData.CSC.JobStatus'completed'",
    "Status eq 'completed'",
    "Status in ('failed','cancelled')",
    "Priority gt 50",
    "SubmissionDate gt 2024-03-01T14:30:00Z",
    "CompletedDate eq null",
    "SubmissionDate lt '2024-03-01T14:00:00.000000Z'",
    "WorkflowName eq 'S2_L1C_L2A'",
    "WorkflowId eq 2b17b57d-fff4-4645-b539-91f305c83b91",
    f"InputProductReference/any(att:att/Reference eq '{L1C_NAME}')",
    f"InputProductReference/Reference eq '{L1C_NAME}'",
    "InputProductReference/ContentDate/Start lt 2020-01-01T00:00:00Z",
    "WorkflowOptions/any(att:att/Name eq 'ImageFormat' and att/OData.CSC.StringAttribute/Value eq 'JPG')",
    "OrderOutputSize eq '1024'",
]
ORDER_ORDERBY = ["Priority desc", "SubmissionDate,Status", "InputProductReference/Reference desc", "EvictionDate"]

OPTION_NAMES = ["$filter", "$orderby", "$top", "$skip", "$count", "$expand", "$select", "$format",
                "$skiptoken", "$search", "$apply", "$compute", "$levels", "$id", "$schemaversion",
                "filter", "TOP", "$Count", "$", "", "@p", "@", "$filter@", "$expand "]
GARBAGE_VALUES = [
    "", "-1", "1e9", "1e99", "99999999999999999999999999", "0x10", "+5", " 3", "3 ", "1.5", "NaN", "inf",
    "abc", "maybe", "True", "FALSE", "1", "0", "null", "garbage", "/", "//", ",", ",,", "*", "**",
    "Foo($top=x)", "Attributes($top=x)", "Attributes($filter=Name eq 'x')", "Attributes/$ref",
    "Attributes/$count", "Attributes($levels=max)", "Attributes(", "Attributes)", "Name desc desc",
    "Name sideways", "Name,", ",Name", "ContentDate/", "ContentDate/Start/Year", "Attributes/Name",
    "xml", "json;odata.metadata=full", "application/json;odata.metadata=none", "atom",
    "application/json;odata.metadata=most", "application/json;IEEE754Compatible=1;metadata=full",
    "application/atom+xml", "text/csv", "JSON", "application/json", "\x00", "\u00e9\u4e2d\U0001f600",
    "'", "''", "'unterminated", "(", ")", "()", "$filter", "&", "=", "%", "%zz", "%C3", "%FF%FE",
    "a" * 5000, "(" * 300, "not " * 300 + "true", "Name eq '" + "x" * 20000 + "'",
]


#: ``Accept`` headers of query and entity cases now and then: the JSON format parameters
#: (proseo_odata_web.json_format), well and badly formed.
ACCEPT_VALUES = [
    "application/json;odata.metadata=full", "application/json;odata.metadata=none;IEEE754Compatible=true",
    "application/json;metadata=FULL;q=0.5, application/json;odata.metadata=none;q=0.9", "application/json;odata.metadata=",
    "application/json;odata.metadata=full;IEEE754Compatible=maybe", "application/json;;;=;odata.metadata",
    "application/json;odata.metadata=\"full", "application/json;q=x;odata.metadata=full", "*/*;odata.metadata=full",
    "application/xml", "text/html, application/json;odata.metadata=full;q=0", "\u00e9;odata.metadata=full",
]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


SKIPTOKENS = [
    "garbage", "", "=", "===", _b64("{}"), _b64("[]"), _b64("null"), _b64('{"k": [1, 2]}'), _b64('{"v":1}'),
    _b64("[[1,2,3]]"), _b64('["x", "y", "z"]'), base64.urlsafe_b64encode(b"\xff\xfe\x00garbage").decode(),
    _b64('{"o": [], "k": "a0000000-0000-0000-0000-000000000001"}'), "eyJhbGciOiJub25lIn0.e30.",
    _b64(json.dumps([["2020-01-01T00:00:00Z", "x"]])), _b64("1" * 500), "a" * 10000, "%00", "\u00e9",
]

UNICODE_SNIPPETS = ["\u00e9", "\u4e2d\u6587", "\U0001f600", "\u202e", "\ufeff", "\u0000", "\ud7ff", "\uffff",
                    "\u2028", "\u00a0", "\u0301", "\u200b", "\U0010ffff"]
SYNTAX_CHARS = list("()'/,:=$&%+;\" \t-.*@#?[]{}<>\\|!~^`") + ["%2B", "%26", "%27", "%20", "%00"]
KEYWORDS = ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "add", "sub", "mul", "div",
            "mod", "any", "all", "null", "true", "false", "(", ")", ",", "'x'", "1e999", "-", "--1",
            "9" * 40, "1.7976931348623157e309", "geography'SRID=4326;POINT(1 2)'", "now()", "cast(Name,Edm.Int32)",
            "isof(Name,Edm.String)", "$it", "$root/Products", "OData.CSC.Intersects(", "duration'P1D'",
            "2020-13-45T25:61:61Z", "0000-00-00", "9999-12-31T23:59:59.9999999999Z", "Attributes", "ContentDate",
            "att/Value", "x:x/Name", "OData.CSC.JobStatus'bogus'", "binary'AAAA'", "-INF", "NaN",
            "99999999999999999999999999999999999999999", "1e-400", "a0000000-0000-0000-0000-00000000000g"]
BAD_ESCAPES = ["%zz", "%", "%C3", "%E2%82", "%ff", "%00", "%%", "%2", "%g0", "%C3%28", "%ED%A0%80", "%F4%90%80%80"]


def _tokens(text: str) -> list[str]:
    return re.findall(r"'(?:[^']|'')*'|[A-Za-z_][\w.]*|\d[\w.:+-]*|\S", text)


#: The longest mutated text (characters).
MAX_TEXT = 1_000_000


def mutate_text(rng: random.Random, text: str) -> str:
    """One or a few random mutations of ``text`` (characters, tokens, unicode, size)."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.randrange(14)
        pos = rng.randint(0, len(text))
        if kind == 0:  # truncation
            text = text[:pos]
        elif kind == 1:  # insert a syntax character
            text = text[:pos] + rng.choice(SYNTAX_CHARS) + text[pos:]
        elif kind == 2 and text:  # delete one character or a run
            end = min(len(text), pos + rng.choice((1, 1, 2, 5, 20)))
            text = text[:pos] + text[end:]
        elif kind == 3 and text:  # duplicate a slice
            start = rng.randrange(len(text))
            end = min(len(text), start + rng.randint(1, 30))
            text = text[:end] + text[start:end] + text[end:]
        elif kind in (4, 5, 6):  # token level: delete, duplicate, replace, swap
            tokens = _tokens(text)
            if not tokens:
                text += rng.choice(KEYWORDS)
                continue
            i = rng.randrange(len(tokens))
            op = rng.randrange(4)
            if op == 0:
                del tokens[i]
            elif op == 1:
                tokens.insert(i, tokens[i])
            elif op == 2:
                tokens[i] = rng.choice(KEYWORDS)
            else:
                j = rng.randrange(len(tokens))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            text = " ".join(tokens) if rng.random() < 0.5 else "".join(
                t if not re.match(r"\w", t) else " " + t + " " for t in tokens)
        elif kind == 7:  # random unicode
            text = text[:pos] + "".join(rng.choice(UNICODE_SNIPPETS) for _ in range(rng.randint(1, 4))) + text[pos:]
        elif kind == 8:  # NUL bytes and control characters
            text = text[:pos] + rng.choice(["\x00", "\x01", "\x7f", "\r\n", "\x1b[0m"]) + text[pos:]
        elif kind == 9:  # overlong
            text = text * rng.choice((50, 400)) if len(text) < 400 else text + "x" * 50000
        elif kind == 10:  # deep nesting
            depth = rng.choice((50, 200, 1000, 5000))
            text = rng.choice(["(" * depth + text + ")" * depth, "not " * depth + f"({text})",
                               f"({text}) and " * depth + "true", "-" * depth + "1 eq 1",
                               "length(" * depth + "Name" + ")" * depth + " eq 1"])
        elif kind == 11:  # a random string of the grammar's characters
            alphabet = string.ascii_letters + string.digits + "()'/,:=$ .-_"
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        elif kind == 12:  # numbers at the edges
            text = re.sub(r"\d+", lambda m: rng.choice(["9" * 30, "-0", "1e400", "0" * 50, "18446744073709551616",
                                                         "2147483648", "-9223372036854775809"]), text, count=1)
        else:  # change letter case of a stretch
            text = text[:pos] + text[pos:pos + 10].swapcase() + text[pos + 10:]
        # nesting an overlong text multiplies it (2 GB at 4,000 cases of some seeds); a real server
        # refuses far shorter request lines (waitress: 256 KiB)
        text = text[:MAX_TEXT]
    return text


def encode_value(rng: random.Random, value: str) -> str:
    """``value`` as a raw query-string value: percent-encoded, partly raw, or with bad escapes."""
    mode = rng.randrange(6)
    if mode in (0, 1):
        encoded = quote(value, safe="'(),:/$@;*")
    elif mode == 2:
        encoded = quote(value, safe="")
    elif mode == 3:  # raw (only & and # would cut it; keep them encoded), spaces as +
        encoded = value.replace("%", "%25").replace("&", "%26").replace("#", "%23").replace("+", "%2B").replace(" ", "+")
        encoded = quote(encoded, safe="".join(chr(c) for c in range(33, 127) if chr(c) not in "&#"))
    else:  # well encoded, then broken escapes put in
        encoded = quote(value, safe="'(),:/")
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(encoded))
            encoded = encoded[:pos] + rng.choice(BAD_ESCAPES) + encoded[pos:]
    return encoded


# -- the requests ---------------------------------------------------------------------------------


@dataclass
class Case:
    method: str
    path: str  # decoded path (PATH_INFO as text)
    query: str = ""  # raw QUERY_STRING
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None
    kind: str = ""

    def describe(self) -> str:
        body = None if self.body is None else self.body[:1500]
        query = self.query if len(self.query) < 300 else self.query[:300] + f"...({len(self.query)} chars)"
        headers = {k: (v if len(v) < 200 else v[:200] + "...") for k, v in self.headers.items()}
        return (f"[{self.kind}] {self.method} {self.path!r} ?{query!r} headers={headers!r} "
                f"content_type={self.content_type!r} body={body!r}")


STANDARD_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def wsgi_text(text: str) -> str:
    """A text as WSGI carries it (UTF-8 bytes as a latin-1 str)."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def send(app: webtest.TestApp, case: Case):
    request = webtest.TestRequest.blank("/")
    request.method = case.method
    request.environ["PATH_INFO"] = wsgi_text(case.path)
    request.environ["QUERY_STRING"] = wsgi_text(case.query)
    for name, value in case.headers.items():
        request.headers[name] = wsgi_text(value)
    if case.body is not None:
        request.body = case.body
    if case.content_type is not None:
        request.environ["CONTENT_TYPE"] = case.content_type
    # WebTest's WSGI lint rejects methods outside RFC 9110's list; servers pass them on.
    lint = app.lint
    app.lint = lint and case.method in STANDARD_METHODS
    try:
        return app.request(request, expect_errors=True)
    finally:
        app.lint = lint


def check_response(case: Case, response, service: str) -> list[str]:
    """The rule's violations by this response (empty when it is fine)."""
    problems = []
    status = response.status_int
    if status >= 500:
        problems.append(f"status {status}")
    if 400 <= status < 500 or status >= 500:
        warning = response.headers.get("Warning", "")
        match = WARNING.match(warning)
        if not match:
            problems.append(f"Warning header {warning!r}")
        elif service is not None and match.group(1) != service:
            problems.append(f"Warning names {match.group(1)}, expected {service}")
        if case.method != "HEAD":
            try:
                error = json.loads(response.body)["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"no OData error body: {response.body[:200]!r}")
            else:
                if not (isinstance(code, str) and CODE.match(code)):
                    problems.append(f"error code {code!r}")
                if not (isinstance(message, str) and message.strip()):
                    problems.append(f"error message {message!r}")
                if match and match.group(2) != code:
                    problems.append(f"Warning code {match.group(2)} != body code {code}")
    elif case.method != "HEAD" and (response.content_type or "").startswith("application/json"):
        try:
            json.loads(response.body)
        except ValueError:
            problems.append(f"{status} with a JSON content type and no JSON body")
    return problems


# -- mutations of queries, paths, headers, bodies ---------------------------------------------------


def random_query(rng, filters, orderby, select=("Name",), expand=("",)) -> str:
    """A query string: mutated valid options, garbage option values, bad escapes, repeats."""
    pairs = []
    shape = rng.randrange(10)
    if shape <= 4:
        pairs.append(("$filter", mutate_text(rng, rng.choice(filters))))
    elif shape in (5, 6):
        pairs.append(("$filter", rng.choice(filters)))  # valid
    if rng.random() < 0.3:
        value = rng.choice(orderby)
        pairs.append(("$orderby", mutate_text(rng, value) if rng.random() < 0.5 else value))
    if rng.random() < 0.3:
        pairs.append((rng.choice(OPTION_NAMES), rng.choice(GARBAGE_VALUES)))
    if rng.random() < 0.25:
        name = rng.choice(["$top", "$skip", "$count", "$select", "$expand", "$format", "$skiptoken", "$orderby"])
        value = {"$top": "2", "$skip": "1", "$count": "true", "$select": rng.choice(select),
                 "$expand": rng.choice(expand), "$format": "json", "$skiptoken": rng.choice(SKIPTOKENS),
                 "$orderby": rng.choice(orderby)}[name]
        pairs.append((name, mutate_text(rng, value) if rng.random() < 0.4 else value))
    if rng.random() < 0.1:  # repeated options
        pairs += [pairs[-1]] * rng.randint(1, 3) if pairs else [("$top", "1"), ("$top", "2")]
    if rng.random() < 0.05:
        value = rng.choice(["'S2B_MSIL1C_20200101_P1_N0208.zip'", '["S2B_MSIL1C_20200101_P1_N0208.zip","x"]',
                            "geography'SRID=4326;POINT(1.5 40.5)'"])
        pairs.append(("@p", value if rng.random() < 0.5 else mutate_text(rng, value)))
    if not pairs:
        pairs.append((rng.choice(OPTION_NAMES), rng.choice(GARBAGE_VALUES)))
    rng.shuffle(pairs)
    parts = []
    for name, value in pairs:
        raw_name = quote(name, safe="$@") if rng.random() < 0.8 else encode_value(rng, name)
        if rng.random() < 0.03:
            parts.append(raw_name)  # no '='
        else:
            parts.append(f"{raw_name}={encode_value(rng, value)}")
    separator = "&" if rng.random() < 0.95 else rng.choice(["&&", ";", "&amp;"])
    query = separator.join(parts)
    if rng.random() < 0.03:
        query = rng.choice(["&", "=", "&=&", "==", "%", "?", "#frag"]) + query
    return query


def mutate_key(rng, key: str) -> str:
    choices = [
        key, f"'{key}'", f"Id={key}", f"Id='{key}'", "xyz", "'", "''", "(", ")", "", " ", "00000000-0000-0000-0000-000000000000",
        "'00000000-0000-0000-0000-000000000000'", key.upper(), key[:-1], key + "0", key.replace("-", ""),
        "{" + key + "}", f"Id={key},Name='x'", "Name='x'", "1", "-1", "1e999", "\u00e9" * 5, "\x00",
        key[:8] + "\u0661" + key[9:], f"'{key}", f"{key}'", f"Id = {key}", f"ID={key}", "%27" + key + "%27",
        "a" * 5000, f"guid'{key}'", f"{key}/",
    ]
    value = rng.choice(choices)
    return mutate_text(rng, value) if rng.random() < 0.15 else value


def wrong_value(rng):
    """A JSON value of some type, often the wrong one."""
    depth = rng.choice((1, 1, 2, 30, 200))
    nested = "x"
    for _ in range(depth):
        nested = [nested] if rng.random() < 0.5 else {"a": nested}
    return rng.choice([
        None, True, False, 0, -1, 1, 50, 101, 2 ** 63, -(2 ** 64), 1.5, 1e308, float("inf"), "", " ", "x",
        "x" * 100000, "\x00", "\ud800", "\U0001f600", [], [1], ["JPG"], ["JPG", "PNG"], [None], {}, {"a": 1},
        {"Start": None}, nested, "2019-10-25T08:59:39.024Z", "not-a-date", "2b17b57d-fff4-4645-b539-91f305c83b91",
        "http://", "https://example.org/x", "mailto:x@y", "javascript:alert(1)", "ftp://x/", "true", "50",
    ])


def json_bytes(rng, value) -> bytes:
    try:
        text = json.dumps(value, allow_nan=True)
    except (ValueError, RecursionError):
        text = "null"
    if rng.random() < 0.1:  # invalid JSON by a textual mutation
        text = mutate_text(rng, text[:2000])
    return text.encode("utf-8", "surrogatepass")


def body_variants(rng, valid: dict) -> tuple[bytes | None, str | None]:
    """A request body derived from ``valid``: wrong types per field, broken JSON, other formats."""
    shape = rng.randrange(12)
    content_type = "application/json"
    if shape <= 4:  # one or more fields with wrong values
        body = json.loads(json.dumps(valid))
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(list(body) + ["Unknown", "@odata.type", "Id", "Status", ""])
            body[name] = wrong_value(rng)
            if isinstance(body.get("InputProductReference"), dict) and rng.random() < 0.3:
                body["InputProductReference"][rng.choice(["Reference", "ContentDate", "X"])] = wrong_value(rng)
            if isinstance(body.get("WorkflowOptions"), list) and rng.random() < 0.3:
                body["WorkflowOptions"] = [{rng.choice(["Name", "Value", "X"]): wrong_value(rng),
                                            "Name": rng.choice(["ImageFormat", "x", wrong_value(rng)])}]
        data = json_bytes(rng, body)
    elif shape == 5:  # a field dropped
        body = dict(valid)
        body.pop(rng.choice(list(body)), None)
        data = json_bytes(rng, body)
    elif shape == 6:  # the body is a JSON value of another type
        data = json_bytes(rng, rng.choice([[], [valid], None, 1, "x", True, {}]))
    elif shape == 7:  # invalid JSON
        data = rng.choice([b"", b"{", b"}", b"{'a': 1}", b"\x00", b"\xff\xfe", b"[" * 100000, b"{\"a\":" * 5000,
                           b"NaN", b"{\"Priority\": Infinity}", b"\xef\xbb\xbf{}", b"{\"a\": \"\\ud800\"}",
                           json.dumps(valid).encode()[:rng.randint(0, 60)]])
    elif shape == 8:  # form body where JSON is expected
        data = "&".join(f"{k}={quote(str(v))}" for k, v in valid.items()).encode()
        content_type = "application/x-www-form-urlencoded"
    elif shape == 9:  # wrong or missing content type
        data = json.dumps(valid).encode()
        content_type = rng.choice([None, "text/plain", "application/xml", "multipart/form-data; boundary=x",
                                   "application/json; charset=latin-1", "application/json; charset=utf-16", "\u00e9/x"])
    elif shape == 10:  # empty body
        data, content_type = rng.choice([(b"", "application/json"), (None, None), (b"", None)])
    else:  # textual mutation of the valid JSON
        data = mutate_text(rng, json.dumps(valid)).encode("utf-8", "surrogatepass")
    return data, content_type


def token_case(rng, path: str, login: str, password: str) -> Case:
    valid = {"grant_type": "password", "username": login, "password": password}
    shape = rng.randrange(8)
    content_type = "application/x-www-form-urlencoded"
    headers = {}
    if shape == 0:
        fields = {k: (mutate_text(rng, v) if rng.random() < 0.5 else v) for k, v in valid.items()}
        data = "&".join(f"{k}={encode_value(rng, v)}" for k, v in fields.items()).encode("latin-1", "replace")
    elif shape == 1:
        data = rng.choice([b"", b"grant_type", b"grant_type=", b"grant_type=client_credentials",
                           b"grant_type=authorization_code&code=x", b"=&=&", b"%zz=%zz", b"grant_type=%C3",
                           b"grant_type=password&username=&password=", b"grant_type=password&grant_type=x",
                           b"\x00\xff", b"a" * 200000])
    elif shape == 2:
        data = json.dumps(valid).encode()
        content_type = "application/json"
    elif shape == 3:
        data = "&".join(f"{k}={quote(v)}" for k, v in valid.items()).encode()
        content_type = rng.choice([None, "text/plain", "multipart/form-data", "multipart/form-data; boundary=zz",
                                   "application/x-www-form-urlencoded; charset=utf-16"])
    elif shape == 4:
        data = b"grant_type=client_credentials"
        headers["Authorization"] = random_authorization(rng)
    elif shape == 5:
        data = b"grant_type=client_credentials&client_id=" + quote(login).encode()
        headers["Authorization"] = random_authorization(rng)
    elif shape == 6:
        data = rng.choice([b"grant_type=password&username=%00&password=x",
                           ("grant_type=password&username=" + quote("\u00e9" * 3000) + "&password=x").encode(),
                           b"grant_type=password&username=DEMO%5C&password=x",
                           b"grant_type=password&username=%5C&password=x",
                           b"grant_type=password&username=-&password=x"])
    else:
        data = mutate_text(rng, "grant_type=password&username=DEMO%5Calice&password=x").encode("utf-8", "surrogatepass")
    return Case("POST", path, "", headers, data, content_type, kind="token")


def random_authorization(rng) -> str:
    other_key = jwt.encode({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": int(time.time()),
                            "exp": int(time.time()) + 600}, "another-secret-key-of-32-characters!", algorithm="HS256")
    def signed(claims):
        return jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")
    now = int(time.time())
    return rng.choice([
        "Basic", "Basic ", "Basic garbage", "Basic !!!!", "Basic " + _b64("no-colon"), "Basic " + _b64(":"),
        "Basic " + _b64(":password"), "Basic " + _b64("DEMO\\:x"), "Basic " + _b64("\\alice:x"),
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(), "Basic " + _b64("x" * 100000 + ":y"),
        "Basic " + "A" * 100001, "Basic =====", "Basic " + _b64("DEMO\\alice") + "=", "basic " + _b64("a:b") + " extra",
        "Bearer", "Bearer ", "Bearer garbage", "Bearer a.b.c", "Bearer " + other_key,
        "Bearer " + jwt.encode({"sub": "alice"}, "k" * 32, algorithm="HS256"),
        "Bearer " + signed({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": now, "exp": now - 10}),
        "Bearer " + signed({"iss": "proseo-odata", "sub": ["alice"], "mission": 1, "iat": now, "exp": now + 60}),
        "Bearer " + signed({"iss": "proseo-odata", "sub": "nobody", "mission": "DEMO", "iat": now, "exp": now + 60}),
        "Bearer " + signed({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": "x", "exp": "y"}),
        "Bearer " + signed({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": now,
                            "exp": 10 ** 30}),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "Bearer " + "x" * 100000,
        "Digest username=x", "Negotiate abc", "\u00e9", "Basic \u00e9\u00e9", " ", "Basic\x00", "Basic YQ==\x00",
        "Bearer \x00", "Basic " + _b64("DEMO\\alice:alice-secret" + "\x00"),
    ])


RANGES = ["bytes=abc", "bytes=5-1", "bytes=-0", "bytes=0-0,5-9", "bytes=0-1023", "bytes=1000-", "bytes=-5",
          "bytes=99999999999999999999999-", "bytes=0-99999999999999999999999", "bytes=-99999999999999999999",
          "bytes=", "bytes", "=", "items=0-5", "bytes=--1", "bytes=1-2-3", "bytes=\u00e9-", "bytes= 0 - 5 ",
          "bytes=0-5,", "bytes=,", "bytes=5000-6000", "bytes=1001-", "bytes=0x10-0x20", "bytes=1e3-",
          "bytes=" + ",".join(f"{i}-{i}" for i in range(500)), "bytes=0-" + "9" * 5000, "BYTES=0-1", "bytes=-"]
CONDITIONALS = ["If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"]
CONDITION_VALUES = ['"garbage"', "garbage", "W/", 'W/"x"', '"', "*", ", ,", '"a", W/"b", c', "\u00e9",
                    "Mon, 32 Foo 2020 99:99:99 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                    "0", "-1", "99999999999999999999", "x" * 20000, "\x00", "Sun, 06 Nov 1994 08:49:37 +9999"]


def download_headers(rng) -> dict:
    headers = {}
    if rng.random() < 0.7:
        value = rng.choice(RANGES)
        headers["Range"] = mutate_text(rng, value) if rng.random() < 0.3 else value
    for name in rng.sample(CONDITIONALS, rng.randint(0, 2)):
        headers[name] = rng.choice(CONDITION_VALUES)
    return headers


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "get", "FOO"]


def mutate_path(rng, path: str) -> str:
    path = _mutate_path(rng, path)
    return path if path.startswith("/") else "/" + path  # PATH_INFO always starts with a slash


def _mutate_path(rng, path: str) -> str:
    shape = rng.randrange(9)
    if shape == 0:
        return path + "/"
    if shape == 1:
        return path + "/" + rng.choice(["Nothing", "$value", "$count", "$ref", "$metadata", "..", ".", "%2F",
                                        "\u00e9", "OData.CSC.Order", "OData.CSC.Nothing", "Attributes(1)", "x" * 3000])
    if shape == 2:
        return path.replace("/odata/v1", rng.choice(["/odata/v2", "/odata/v1/", "/ODATA/v1", "/odata//v1"]), 1)
    if shape == 3:
        return path + rng.choice(["()", "(", ")", "('x')", "(1)", "/$value/$value", "//", ";x=1", "\x00"])
    if shape == 4:
        return path.lower() if rng.random() < 0.5 else path.upper()
    if shape == 5:
        return "//" + path.lstrip("/")
    if shape == 6:
        i = rng.randrange(len(path))
        return path[:i] + rng.choice(UNICODE_SNIPPETS + ["(", ")", "'", "$", "%"]) + path[i:]
    if shape == 7:
        return path.rsplit("/", 1)[0]
    return mutate_text(rng, path)


# -- the stored state ----------------------------------------------------------------------------------


def snapshot(storage) -> dict:
    """Everything stored, as comparable values per (kind, id)."""
    from proseo_odata.model import VisibilityClass
    from proseo_odata.storage import Query

    state = {}
    everything = Query(top=100000, expand=frozenset({"Attributes"}))
    with storage.transaction() as tx:
        for mission in tx.list_missions():
            state[("mission", mission.code)] = repr(mission)
            for user in tx.list_users(mission.code):
                state[("user", mission.code, user.name)] = repr(user)
            for product in tx.query_products(mission.code, everything, visibilities=list(VisibilityClass)).items:
                state[("product", product.id)] = repr(product)
            for sub in tx.query_subscriptions(mission.code, Query(top=100000)).items:
                state[("subscription", sub.id)] = sub
            for order in tx.query_orders(mission.code, Query(top=100000)).items:
                state[("order", order.id)] = order
            for workflow in tx.list_workflows(mission.code):
                state[("workflow", workflow.id)] = repr(workflow)
        for message in tx.list_notifications():
            state[("notification", message.id)] = message
    return state


def archived_md5s(storage, archive) -> dict:
    from proseo_odata.model import VisibilityClass
    from proseo_odata.storage import Query

    digests = {}
    with storage.transaction() as tx:
        for mission in tx.list_missions():
            for product in tx.query_products(mission.code, Query(top=100000), visibilities=list(VisibilityClass)).items:
                if product.archive_key:
                    path = archive.local_path(product.archive_key)
                    with open(path, "rb") as file:
                        digests[product.id] = (hashlib.md5(file.read()).hexdigest(), product.checksum("MD5"))
    return digests


@dataclass
class Ledger:
    """What successful requests were allowed to change."""

    created: dict = field(default_factory=dict)  # (kind, id) -> response JSON
    acted_on: dict = field(default_factory=dict)  # (kind, id) -> last response JSON


def record_success(ledger: Ledger, case: Case, response):
    if case.method != "POST" or response.status_int >= 300:
        return
    try:
        body = json.loads(response.body)
    except ValueError:
        return
    if not isinstance(body, dict) or "Id" not in body:
        return
    kind = "subscription" if "/Subscriptions" in case.path else "order"
    key = (kind, uuid.UUID(body["Id"]))
    if response.status_int == 201:
        ledger.created[key] = body
    else:
        ledger.acted_on[key] = body


def check_stored(before: dict, after: dict, ledger: Ledger) -> list[str]:
    problems = []
    for key, value in before.items():
        if key not in after:
            problems.append(f"{key} disappeared")
        elif after[key] != value:
            if key[0] in ("subscription", "order") and key in ledger.acted_on:
                if str(after[key].status) != ledger.acted_on[key]["Status"]:
                    problems.append(f"{key} is {after[key].status}, last answered {ledger.acted_on[key]['Status']}")
            else:
                problems.append(f"{key} changed: {value!r} -> {after[key]!r}")
    for key, value in after.items():
        if key in before:
            continue
        if key[0] == "notification":
            related = value.payload.get("ProductionOrderId") or value.payload.get("SubscriptionId")
            if not any(str(k[1]) == related for k in ledger.acted_on):
                problems.append(f"unexpected notification {value!r}")
            continue
        if key not in ledger.created:
            problems.append(f"{key} appeared without a 201: {value!r}")
            continue
        answered = ledger.created[key]
        status = ledger.acted_on.get(key, answered)["Status"]
        if str(value.status) != status:
            problems.append(f"{key} stored as {value.status}, answered {status}")
    for key in ledger.created:
        if key not in after:
            problems.append(f"{key} was answered 201 but is not stored")
    return problems


def run_cases(app, cases, service_of) -> tuple[list[str], Ledger]:
    failures, ledger = [], Ledger()
    for case in cases:
        try:
            response = send(app, case)
        except Exception as exc:  # noqa: BLE001 - a crash of the app (or WSGI lint) is a finding
            failures.append(f"{case.describe()}\n    raised {exc.__class__.__name__}: {str(exc)[:300]}")
            continue
        problems = check_response(case, response, service_of(case.path))
        if problems:
            failures.append(f"{case.describe()}\n    -> {response.status}: {'; '.join(problems)}; "
                            f"body {response.body[:300]!r}")
        record_success(ledger, case, response)
        if os.environ.get("FUZZ_REPORT"):
            STATS[(case.kind, response.status_int)] = STATS.get((case.kind, response.status_int), 0) + 1
    return failures, ledger


STATS: dict = {}


def _service_of(path: str) -> str | None:
    """The service a path belongs to (None outside both roots: either agent name will do)."""
    for root, service in ((ODIP, "odip"), ("/proseo/odip/v1/token", "odip"), (PRIP, "prip"),
                          ("/proseo/prip/v1/token", "prip")):
        if path == root or path.startswith(root + "/"):
            return service
    return None


def _n_cases(db_url: str) -> int:
    return CASES["sqlite"] if db_url.startswith("sqlite") else CASES["postgresql"]


# -- PRIP ------------------------------------------------------------------------------------------------

PRIP_VALID_SUBSCRIPTION = {
    "FilterParam": PRIP_FILTERS[27],
    "NotificationEndpoint": "https://receiver.example.org/prip",
    "NotificationEpUsername": "receiver",
    "NotificationEpPassword": "receiver-secret",
    "Priority": 10,
    "StageOrder": False,
}


def prip_cases(rng: random.Random, n: int, catalogue, subscription_ids: list[str]) -> list[Case]:
    p1, p1_name = catalogue.id("p1"), catalogue.products["p1"].name
    alice, carol = basic("alice"), basic("carol")
    cases = []
    for i in range(n):
        kind = rng.choices(["query", "count", "entity", "options", "path", "auth", "download", "subscribe",
                            "subquery", "action", "token", "nodes"], weights=[30, 6, 6, 8, 8, 6, 8, 10, 6, 4, 4, 4])[0]
        user = carol if rng.random() < 0.3 else alice
        if kind == "query":
            headers = {**user, "Accept": rng.choice(ACCEPT_VALUES)} if rng.random() < 0.2 else user
            cases.append(Case("GET", PRIP + "/Products",
                              random_query(rng, PRIP_FILTERS, PRIP_ORDERBY, PRIP_SELECT, PRIP_EXPAND), headers,
                              kind=kind))
        elif kind == "count":
            cases.append(Case("GET", PRIP + "/Products/$count", random_query(rng, PRIP_FILTERS, PRIP_ORDERBY),
                              user, kind=kind))
        elif kind == "entity":
            suffix = rng.choice(["", "", "/Attributes", "/Name", "/ContentDate", "/Checksum/$value",
                                 "/GeoFootprint/$value", "/ContentLength/$value", "/ContentDate/Start",
                                 "/ContentDate/End/$value", "/Collection/Name/$value", "/Attributes/$count",
                                 "/Assets", "/Assets/$count", f"/Assets({mutate_key(rng, p1)})"])
            query = rng.choice(["", f"$expand={rng.choice(GARBAGE_VALUES + PRIP_EXPAND)}",
                                f"$select={rng.choice(GARBAGE_VALUES + PRIP_SELECT)}",
                                random_query(rng, PRIP_FILTERS, PRIP_ORDERBY, PRIP_SELECT, PRIP_EXPAND)
                                if not suffix.startswith("/Attributes") else
                                random_query(rng, ITEM_FILTERS, ITEM_ORDERBY, ("Name,Value", "ValueType"))])
            headers = {**user, "Accept": rng.choice(ACCEPT_VALUES)} if rng.random() < 0.2 else user
            cases.append(Case("GET", PRIP + f"/Products({mutate_key(rng, p1)}){suffix}",
                              encode_value(rng, query) if rng.random() < 0.1 else query, headers, kind=kind))
        elif kind == "options":
            pairs = [(rng.choice(OPTION_NAMES), rng.choice(GARBAGE_VALUES + SKIPTOKENS)) for _ in range(rng.randint(1, 4))]
            query = "&".join(f"{quote(name, safe='$@')}={encode_value(rng, value)}" for name, value in pairs)
            path = rng.choice(["/Products", "/Products/$count", "/Subscriptions", f"/Products({p1})", "/", "/$metadata"])
            cases.append(Case("GET", PRIP + path, query, user, kind=kind))
        elif kind == "path":
            path = rng.choice(["/Products", f"/Products({p1})", f"/Products({p1})/$value", f"/Products({p1})/Attributes",
                               f"/Products({p1})/Name", f"/Products({p1})/Name/$value", f"/Products({p1})/Assets({p1})",
                               f"/Products({p1})/ContentDate/Start/$value",
                               "/Products/$count", "/Subscriptions", "/$metadata", "/"])
            method = rng.choice(METHODS)
            body = rng.choice([None, b"", b"{}", b"x"])
            cases.append(Case(method, mutate_path(rng, PRIP + path) if rng.random() < 0.7 else PRIP + path,
                              "", user, body, kind=kind))
        elif kind == "auth":
            path = rng.choice(["/Products", f"/Products({p1})", f"/Products({p1})/$value", "/Subscriptions", "/"])
            cases.append(Case(rng.choice(["GET", "GET", "HEAD"]), PRIP + path, "",
                              {"Authorization": random_authorization(rng)}, kind=kind))
        elif kind == "nodes":  # CDSE's Nodes: p1's file is one node, named as the product
            names = [rng.choice([p1_name, p1_name, f"'{p1_name}'", mutate_text(rng, p1_name)])]
            names += [mutate_text(rng, rng.choice(["manifest.safe", "GRANULE", "a b", "'x'", "x)"]))
                      for _ in range(rng.choice([0, 0, 1, 2]))]
            path = f"/Products({p1 if rng.random() < 0.9 else mutate_key(rng, p1)})/Nodes" + "".join(
                f"({quote(name, safe='')})/Nodes" for name in names)
            path = rng.choice([path, path[:-len("/Nodes")] if names else path, path[:-len("/Nodes")] + "/$value"
                               if names else path + "/$value"])
            cases.append(Case(rng.choice(["GET", "GET", "HEAD"]), PRIP + path,
                              "" if rng.random() < 0.8 else random_query(rng, PRIP_FILTERS, PRIP_ORDERBY),
                              {**user, **download_headers(rng)}, kind=kind))
        elif kind == "download":
            key = p1 if rng.random() < 0.8 else mutate_key(rng, p1)
            cases.append(Case(rng.choice(["GET", "GET", "HEAD"]), PRIP + f"/Products({key})/$value",
                              "" if rng.random() < 0.8 else random_query(rng, PRIP_FILTERS, PRIP_ORDERBY),
                              {**user, **download_headers(rng)}, kind=kind))
        elif kind == "subscribe":
            data, content_type = body_variants(rng, PRIP_VALID_SUBSCRIPTION)
            if rng.random() < 0.15:  # a valid one now and then
                data, content_type = json.dumps(PRIP_VALID_SUBSCRIPTION).encode(), "application/json"
            if rng.random() < 0.3:
                body = json.loads(json.dumps(PRIP_VALID_SUBSCRIPTION))
                body["FilterParam"] = mutate_text(rng, rng.choice(PRIP_FILTERS))
                data = json.dumps(body).encode()
            cases.append(Case("POST", PRIP + "/Subscriptions", "", alice, data, content_type, kind=kind))
        elif kind == "subquery":
            cases.append(Case("GET", PRIP + "/Subscriptions",
                              random_query(rng, SUBSCRIPTION_FILTERS, ["Priority desc", "SubmissionDate"],
                                           ("Status,Priority", "NotificationEpPassword")), alice, kind=kind))
        elif kind == "action":
            key = rng.choice(subscription_ids)
            action = rng.choice(["OData.CSC.Pause", "OData.CSC.Resume", "OData.CSC.Cancel", "OData.CSC.Nothing", ""])
            path = PRIP + f"/Subscriptions({mutate_key(rng, key) if rng.random() < 0.5 else key})"
            path = path + "/" + action if action else path
            data, content_type = body_variants(rng, {"x": 1}) if rng.random() < 0.3 else (None, None)
            cases.append(Case(rng.choice(["POST", "POST", "GET", "PUT"]), path, "", alice, data, content_type,
                              kind=kind))
        else:
            cases.append(token_case(rng, "/proseo/prip/v1/token", "DEMO\\alice", "alice-secret"))
    return cases


def _fail(failures: list[str], stored: list[str]):
    if os.environ.get("FUZZ_REPORT"):
        with open(os.environ["FUZZ_REPORT"], "a") as report:
            report.write("\n".join(failures + stored) + "\n")
            report.write(repr(sorted(STATS.items())) + "\n")
    if failures or stored:
        text = "\n".join(failures[:40])
        more = f"\n... and {len(failures) - 40} more" if len(failures) > 40 else ""
        pytest.fail(f"{len(failures)} bad answers, {len(stored)} storage problems\n{text}{more}\n"
                    + "\n".join(stored[:20]), pytrace=False)


def still_answers(app, url: str, headers: dict) -> dict:
    """``GET url`` answered 200 after the fuzz. The fuzz's wrong passwords may have locked the
    user's name out for a second or two (429 with ``Retry-After``, most likely with many cases:
    ``FUZZ_CASES``): that is waited out, three times at the most."""
    for _ in range(4):
        response = app.get(url, headers=headers, status="*")
        if response.status_int != 429:
            break
        time.sleep(float(response.headers["Retry-After"]))
    assert response.status_int == 200, response.body
    return response.json


def test_prip_surface_survives_bad_input(app, catalogue, storage, archive, db_url):
    rng = random.Random(SEED)
    # Two subscriptions of alice to act on (one is cancelled by some cases, then illegal moves give 409).
    created = [app.post_json(PRIP + "/Subscriptions", PRIP_VALID_SUBSCRIPTION, headers=basic("alice")).json["Id"]
               for _ in range(2)]
    before, md5s = snapshot(storage), archived_md5s(storage, archive)
    assert md5s and all(actual == stored for actual, stored in md5s.values())

    failures, ledger = run_cases(app, prip_cases(rng, _n_cases(db_url), catalogue, created), _service_of)

    after = snapshot(storage)
    stored = check_stored(before, after, ledger)
    assert archived_md5s(storage, archive) == md5s
    # The service still answers normally afterwards.
    assert still_answers(app, PRIP + "/Products", basic("alice"))["value"]
    _fail(failures, stored)


# -- ODIP ------------------------------------------------------------------------------------------------


def odip_cases(rng: random.Random, n: int, world) -> list[Case]:
    ursula, mgr = auth("ursula"), auth("mgr")
    order_ids = list(world.orders)
    valid = order_body()
    cases = []
    create_paths = [ODIP + "/ProductionOrder/OData.CSC.Order", ODIP + "/ProductionOrder", ODIP + "/ProductionOrders"]
    for i in range(n):
        kind = rng.choices(["orders", "count", "workflows", "order", "create", "cancel", "product", "path", "auth",
                            "options", "token", "prip"], weights=[20, 5, 10, 6, 25, 6, 8, 8, 4, 4, 3, 4])[0]
        user = mgr if rng.random() < 0.4 else ursula
        if kind == "orders":
            cases.append(Case("GET", ODIP + "/ProductionOrders",
                              random_query(rng, ORDER_FILTERS, ORDER_ORDERBY, ("Status,Priority", "NotificationEpPassword",
                                                                               "InputProductReference")), user, kind=kind))
        elif kind == "count":
            cases.append(Case("GET", ODIP + rng.choice(["/ProductionOrders/$count", "/Workflows/$count"]),
                              random_query(rng, ORDER_FILTERS + WORKFLOW_FILTERS, ORDER_ORDERBY), user, kind=kind))
        elif kind == "workflows":
            path = rng.choice(["/Workflows", "/Workflows", f"/Workflows({mutate_key(rng, L2A_ID)})",
                               f"/Workflows({mutate_key(rng, L2A_ID)})/Name/$value"])
            cases.append(Case("GET", ODIP + path,
                              random_query(rng, WORKFLOW_FILTERS, ["Name desc", "InputProductType,Name"],
                                           ("Name,WorkflowOptions", "Id")), user, kind=kind))
        elif kind == "order":
            key = world.order_id(rng.choice(order_ids))
            set_name = rng.choice(["ProductionOrders", "ProductionOrder"])
            headers = {**user, "Accept": rng.choice(ACCEPT_VALUES)} if rng.random() < 0.2 else user
            suffix = rng.choice(["", "", "", "/Status", "/InputProductReference", "/CompletedDate/$value",
                                 "/NotificationEpPassword/$value", "/WorkflowOptions"])
            cases.append(Case("GET", ODIP + f"/{set_name}({mutate_key(rng, key)}){suffix}",
                              rng.choice(["", "$select=Status", f"$select={rng.choice(GARBAGE_VALUES)}",
                                          "$expand=Product", f"$expand={rng.choice(GARBAGE_VALUES)}"]), headers,
                              kind=kind))
        elif kind == "create":
            data, content_type = body_variants(rng, valid)
            if rng.random() < 0.1:
                data, content_type = json.dumps(valid).encode(), "application/json"
            cases.append(Case("POST", rng.choice(create_paths), "", user, data, content_type, kind=kind))
        elif kind == "cancel":
            key = world.order_id(rng.choice(order_ids))
            set_name = rng.choice(["ProductionOrders", "ProductionOrder"])
            key = mutate_key(rng, key) if rng.random() < 0.5 else key
            data, content_type = body_variants(rng, {"x": 1}) if rng.random() < 0.3 else (None, None)
            cases.append(Case(rng.choice(["POST", "POST", "GET", "DELETE"]),
                              ODIP + f"/{set_name}({key})/OData.CSC.Cancel", "", user, data, content_type, kind=kind))
        elif kind == "product":
            key = world.order_id(rng.choice(["u_completed", "u_completed", "u_queued"]))
            key = mutate_key(rng, key) if rng.random() < 0.3 else key
            suffix = rng.choice(["/Product", "/Product/$value", "/Product/$value", "/Product/Attributes"])
            query = rng.choice(["", "$expand=Attributes", f"$expand={rng.choice(GARBAGE_VALUES)}",
                                f"$select={rng.choice(GARBAGE_VALUES)}"])
            headers = {**user, **(download_headers(rng) if "$value" in suffix else {})}
            cases.append(Case(rng.choice(["GET", "GET", "HEAD"]),
                              ODIP + f"/{rng.choice(['ProductionOrders', 'ProductionOrder'])}({key}){suffix}",
                              query, headers, kind=kind))
        elif kind == "path":
            key = world.order_id("u_queued")
            path = rng.choice(["/Workflows", "/ProductionOrders", f"/ProductionOrders({key})", "/ProductionOrder",
                               f"/ProductionOrder({key})/OData.CSC.Cancel", "/ProductionOrder/OData.CSC.Order",
                               f"/Workflows({L2A_ID})", "/$metadata", "/"])
            method = rng.choice(METHODS)
            cases.append(Case(method, mutate_path(rng, ODIP + path) if rng.random() < 0.7 else ODIP + path, "",
                              user, rng.choice([None, b"", b"{}"]), kind=kind))
        elif kind == "auth":
            path = rng.choice(["/Workflows", "/ProductionOrders", "/ProductionOrder"])
            method = "POST" if path == "/ProductionOrder" else "GET"
            cases.append(Case(method, ODIP + path, "", {"Authorization": random_authorization(rng)},
                              json.dumps(valid).encode() if method == "POST" else None,
                              "application/json" if method == "POST" else None, kind=kind))
        elif kind == "options":
            pairs = [(rng.choice(OPTION_NAMES), rng.choice(GARBAGE_VALUES + SKIPTOKENS)) for _ in range(rng.randint(1, 4))]
            query = "&".join(f"{quote(name, safe='$@')}={encode_value(rng, value)}" for name, value in pairs)
            path = rng.choice(["/ProductionOrders", "/Workflows", "/ProductionOrders/$count", "/", "/$metadata"])
            cases.append(Case("GET", ODIP + path, query, user, kind=kind))
        elif kind == "token":
            cases.append(token_case(rng, "/proseo/odip/v1/token", "DEMO\\ursula", "ursula-pw"))
        else:  # the PRIP side of the same world: output product downloads and queries
            product = world.products[rng.choice(["l1c", "output", "restricted"])]
            cases.append(Case(rng.choice(["GET", "HEAD"]), PRIP + f"/Products({product.id})/$value", "",
                              {**auth("ursula"), **download_headers(rng)}, kind=kind))
    return cases


@pytest.fixture
def odip(odip_settings, odip_password_hashes):
    """The ODIP world of ``odip_helpers.build_world`` with bearer tokens enabled (the token endpoint too)."""
    settings = {**odip_settings, "proseo.token.secret": TOKEN_SECRET}
    world = build_world(settings, odip_password_hashes)
    with served_app(settings) as app:
        world.app = app
        yield world
    world.storage.close()


def test_odip_surface_survives_bad_input(odip, db_url):
    rng = random.Random(SEED + 1)
    before, md5s = snapshot(odip.storage), archived_md5s(odip.storage, odip.archive)
    assert md5s and all(actual == stored for actual, stored in md5s.values())

    failures, ledger = run_cases(odip.app, odip_cases(rng, _n_cases(db_url), odip), _service_of)

    after = snapshot(odip.storage)
    stored = check_stored(before, after, ledger)
    assert archived_md5s(odip.storage, odip.archive) == md5s
    assert still_answers(odip.app, ODIP + "/ProductionOrders", auth("mgr"))["value"]
    _fail(failures, stored)


# -- regressions: the minimised inputs of the failures this fuzz found ------------------------------


def _assert_clean_error(response, status, code, service="prip"):
    assert response.status_int == status, response.text
    error = response.json["error"]
    assert error["code"] == code
    match = WARNING.match(response.headers["Warning"])
    assert match and match.groups() == (service, code), response.headers["Warning"]
    return error


def test_long_and_chain_is_answered(app, catalogue):
    """1000 'and'ed comparisons: SQLite refused the flat chain ("Expression tree is too large"),
    a 500; now rendered as nested groups, answered on both databases."""
    text = " and ".join(["ContentLength gt 1000"] * 1000)
    response = app.get(PRIP + "/Products/$count", {"$filter": text}, headers=basic("alice"))
    assert response.text == "5"


def test_filter_beyond_the_database_parser_is_400(app, catalogue, db_url):
    """'ContentLength add 1 add 1 ... (99 times) eq 5' is within the parser's depth limit but
    SQLite's parser overflows on the nested parentheses ("parser stack overflow"), a 500: now 400
    with a clear message on SQLite; PostgreSQL answers it."""
    text = "ContentLength" + " add 1" * 99 + " eq 1100"
    response = app.get(PRIP + "/Products", {"$filter": text}, headers=basic("alice"), expect_errors=True)
    if db_url.startswith("sqlite"):
        error = _assert_clean_error(response, 400, "E7721")
        assert error["target"] == "$filter" and "too complex" in error["message"]
    else:
        assert [p["Name"] for p in response.json["value"]] == [catalogue.products["p1"].name]


@pytest.mark.parametrize("header, status, length", [
    ("bytes=0-" + "9" * 5000, 206, 1001),  # int() refused > 4300 digits: a 500
    ("bytes=" + "9" * 5000 + "-", 416, None),
    ("bytes=-" + "9" * 5000, 206, 1001),
])
def test_range_with_huge_numbers(app, catalogue, header, status, length):
    response = app.get(PRIP + f"/Products({catalogue.id('p1')})/$value", headers={**basic("alice"), "Range": header},
                       expect_errors=True)
    assert response.status_int == status
    if length is not None:
        assert len(response.body) == length and response.headers["Content-Range"] == "bytes 0-1000/1001"
    else:
        _assert_clean_error(response, 416, "E7716")


@pytest.mark.parametrize("text, count", [
    # a constant lambda predicate compiled to EXISTS (SELECT * WHERE 0 = 1), no FROM: SQL error
    ("Attributes/all(a:true)", 5),
    ("Attributes/all(a:1 eq 1)", 5),
    ("Checksum/all(c:true)", 5),
    ("Attributes/any(a:false)", 0),
    ("Attributes/any(a:true)", 5),
    ("Attributes/all(a:false)", 0),
    # start + 1 of a literal start of 2**63 - 1 could not be bound (OverflowError)
    ("substring(Name, 9223372036854775807) eq ''", 5),
    ("substring(Name, 1, 9223372036854775807) eq substring(Name, 1)", 5),
    ("substring(Name, 0, 3000000000) eq Name", 5),
])
def test_edge_filters_are_answered(app, catalogue, text, count):
    response = app.get(PRIP + "/Products/$count", {"$filter": text}, headers=basic("alice"))
    assert response.text == str(count)


@pytest.mark.parametrize("text, message", [
    # constant folding made an int beyond Int64 (SQLite could not bind it) or a date past 9999
    ("ContentLength eq 9223372036854775807 add 1", "out of range for Edm.Int64"),
    ("now() add duration'P9999999D' gt ContentDate/Start", "out of range"),
    # quoted numbers skipped the range check
    ("ContentLength eq '99999999999999999999'", "out of range for Edm.Int64"),
])
def test_constants_out_of_range_are_400(app, catalogue, text, message):
    response = app.get(PRIP + "/Products/$count", {"$filter": text}, headers=basic("alice"), expect_errors=True)
    error = _assert_clean_error(response, 400, "E7721")
    assert message in error["message"]


def test_odip_quoted_number_out_of_range_is_400(odip):
    response = odip.app.get(ODIP + "/ProductionOrders", {"$filter": "OrderOutputSize eq '-9223372036854775809'"},
                            headers=auth("mgr"), expect_errors=True)
    error = _assert_clean_error(response, 400, "E7221", service="odip")
    assert "out of range" in error["message"]


@pytest.mark.parametrize("text", [
    "ContentLength mul 9223372036854775807 gt 0",
    "ContentLength add 9223372036854775807 gt 0",
    "-ContentLength sub 9223372036854775807 lt 0",
    "ContentDate/Start add duration'P3000000D' gt 2020-01-01T00:00:00Z",
    "ContentDate/Start sub duration'P3000000D' lt 2020-01-01T00:00:00Z",
    "year(ContentDate/Start) mul 9223372036854775807 gt 0",
])
def test_runtime_overflow_is_answered_or_400(app, catalogue, text):
    """Arithmetic that overflows only on the rows (the database evaluates it): an answer, or a
    400 saying so (PostgreSQL raises SQLSTATE 22003 'bigint out of range'), never a 500."""
    response = app.get(PRIP + "/Products/$count", {"$filter": text}, headers=basic("alice"), expect_errors=True)
    if response.status_int != 200:
        error = _assert_clean_error(response, 400, "E7721")
        assert error["target"] == "$filter"
        # our words, not the driver's ("bigint out of range", which could quote stored values)
        assert error["message"].endswith(("a number out of range", "a date-time out of range")), error


@pytest.mark.parametrize("text", ["substring(Name, ContentLength) eq ''", "substring(Name, 0, ContentLength) eq Name"])
def test_substring_with_int64_arguments(app, catalogue, text):
    """PostgreSQL has no substr(text, bigint): a property as start or length was a 500."""
    response = app.get(PRIP + "/Products/$count", {"$filter": text}, headers=basic("alice"))
    assert response.text == "5"


@pytest.mark.parametrize("endpoint", ["https://myser]vice.example/notification", "http://[::1/x", "https://[zz]/"])
def test_malformed_notification_endpoint_of_an_order_is_400(odip, endpoint):
    """urlsplit raises ValueError ("Invalid IPv6 URL") for these: a 500."""
    response = odip.app.post(ODIP + "/ProductionOrder/OData.CSC.Order",
                             json.dumps(order_body(NotificationEndpoint=endpoint)),
                             headers={**auth("ursula"), "Content-Type": "application/json"}, expect_errors=True)
    error = _assert_clean_error(response, 400, "E7205", service="odip")
    assert "NotificationEndpoint" in json.dumps(error)


@pytest.mark.parametrize("endpoint", ["https://myser]vice.example/notification", "http://[::1/x", "https://[zz]/"])
def test_malformed_notification_endpoint_of_a_subscription_is_400(app, endpoint):
    response = app.post(PRIP + "/Subscriptions", json.dumps({**PRIP_VALID_SUBSCRIPTION, "NotificationEndpoint": endpoint}),
                        headers={**basic("alice"), "Content-Type": "application/json"}, expect_errors=True)
    error = _assert_clean_error(response, 400, "E7742")
    assert error["target"] == "NotificationEndpoint"
