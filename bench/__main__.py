"""Query-core benchmark: parse + bind + compile of the client filters of contract section 6.

Compares, in one process and on the same strings:

* ``odata-query``: ``ODataParser().parse(ODataLexer().tokenize(text))`` (parsing only);
* ours, unique filters: ``parse_filter`` + ``bind_filter`` + ``compile_filter`` (the SQLAlchemy
  expression the backend executes, PostgreSQL/PostGIS mapping);
* ours, repeated filters through :class:`proseo_odata.odata.cache.FilterCache`.

Unique filters get a fresh number inside a literal on every round so no cache can help. The
three are timed in interleaved rounds (their order alternating from round to round, so a load
change on a shared machine hits all of them) and the medians over the rounds are reported:
overall (the 13 PRIP filters mixed in one loop, as in earlier results; and all 16 with the ODIP
order filters), per filter (50 variants of one filter in a row), and ours split into parse, bind
and compile (timed inside the mixed loop).

Run: ``python -m bench`` (or ``make bench``); ``--rounds N``; ``--profile`` prints cProfile's
top entries of our unique-filter path.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import statistics
import time

#: The PRIP client filters (contract section 6), against Products.
QUERIES = [
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C{n}')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value in ('A{n}','B'))",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value lt 1{n})",
    "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le 40.{n})",
    "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.{n}Z)",
    "Attributes/OData.CSC.BooleanAttribute/any(att:att/Name eq 'x{n}' and att/OData.CSC.BooleanAttribute/Value eq true)",
    "Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'RAW{n}')",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.StringAttribute/Value eq 12{n})",
    "Attributes/OData.CSC.StringAttribute/any(att:'S2MSI1C{n}' eq att/OData.CSC.StringAttribute/Value and 'productType' eq att/Name)",
    "contains(Name,'_AUX_{n}') or contains(Name,'_AX_') and PublicationDate gt 2021-01-01T00:00:00.000Z",
    "ContentDate/Start lt 2020-01-12T00:00:00.{n}Z and ContentDate/End gt 2020-01-01T00:00:00Z and Online eq true",
    "startswith(Name,'S2A_{n}') and ProductionType eq 'systematic_production'",
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10 4{n},12 45,12 47,10 47,10 4{n}))')",
]
#: The ODIP order filters (contract section 6), against ProductionOrders.
ODIP_QUERIES = [
    "InputProductReference/any(att:att/Reference eq 'S2A_MSIL1C_{n}.SAFE')",
    "WorkflowOptions/any(att:att/Name eq 'x' and att/OData.CSC.StringAttribute/Value eq 'y{n}')",
    "OrderOutputSize eq '1{n}' and Status eq 'completed'",
]
#: (entity set, filter) of every filter measured.
FILTERS = [("Products", q) for q in QUERIES] + [("ProductionOrders", q) for q in ODIP_QUERIES]
#: Short names of FILTERS, in order.
LABELS = [
    "String attribute eq (productType)", "String attribute in (productType)", "Integer attribute lt",
    "Double attribute le", "DateTimeOffset attribute ge", "Boolean attribute eq", "attribute, no cast",
    "attribute, mismatched casts", "attribute, operands swapped", "contains or contains and date",
    "ContentDate window and Online", "startswith and ProductionType", "OData.CSC.Intersects polygon",
    "ODIP InputProductReference/any", "ODIP WorkflowOptions/any", "ODIP quoted number and status",
]
N_VALUES = 50  # distinct numbers per round


def _odata_query_parse():
    from odata_query.grammar import ODataLexer, ODataParser

    lexer, parser = ODataLexer(), ODataParser()
    return lambda text: parser.parse(lexer.tokenize(text))


def _ours():
    """``(run, tables)``: ``run(text, entity_set='Products')`` parses, binds and compiles."""
    from proseo_odata.odata.binding import bind_filter
    from proseo_odata.odata.parser import parse_filter
    from proseo_odata.storage.mapping import ENTITY_TYPES, compile_filter
    from proseo_odata.storage.schema import SchemaTables

    tables = SchemaTables(dialect="postgresql", postgis=True)

    def run(text, entity_set="Products"):
        return compile_filter(entity_set, bind_filter(parse_filter(text), ENTITY_TYPES[entity_set]), tables)

    return run, tables


def _variants(query, round_number):
    return [query.replace("{n}", str(round_number * N_VALUES + i + 1)) for i in range(N_VALUES)]


def _texts(round_number, filters=None):
    """The mixed list of one round: every filter's variant 1, then every filter's variant 2..."""
    filters = [("Products", q) for q in QUERIES] if filters is None else filters
    out = []
    for i in range(N_VALUES):
        n = round_number * N_VALUES + i + 1
        out.extend((entity_set, q.replace("{n}", str(n))) for entity_set, q in filters)
    return out


def _time_per_item(fn, items):
    start = time.perf_counter()
    for item in items:
        fn(*item)
    return (time.perf_counter() - start) / len(items)


def _phases(items):
    """Our path split into parse, bind and compile, timed inside one mixed loop."""
    from proseo_odata.odata.binding import bind_filter
    from proseo_odata.odata.parser import parse_filter
    from proseo_odata.storage.mapping import ENTITY_TYPES, compile_filter

    tables = _phases.tables
    clock = time.perf_counter
    parse = bind = compile_ = 0.0
    for entity_set, text in items:
        t0 = clock()
        tree = parse_filter(text)
        t1 = clock()
        bound = bind_filter(tree, ENTITY_TYPES[entity_set])
        t2 = clock()
        compile_filter(entity_set, bound, tables)
        t3 = clock()
        parse += t1 - t0
        bind += t2 - t1
        compile_ += t3 - t2
    return parse / len(items), bind / len(items), compile_ / len(items)


def _machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for name in ("sqlalchemy", "lark", "odata_query"):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(name.replace('_', '-'))}")
        except Exception:  # noqa: BLE001 - informational only
            pass
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, "
            f"CPU {model}, load {os.getloadavg()[0]:.2f}, python {platform.python_version()}, "
            + ", ".join(versions))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    from proseo_odata.odata.cache import FilterCache
    from proseo_odata.storage.mapping import ENTITY_TYPES, compile_filter

    theirs_parse = _odata_query_parse()
    ours, tables = _ours()
    _phases.tables = tables
    cache = FilterCache()

    def theirs(text, entity_set="Products"):
        return theirs_parse(text)

    def cached(text, entity_set="Products"):
        return cache.sql_filter(text, ENTITY_TYPES[entity_set], (entity_set, id(tables)),
                                lambda bound: compile_filter(entity_set, bound, tables))

    # warm up (grammar build, imports, first-use checks)
    for entity_set, text in _texts(1000, FILTERS):
        theirs(text)
        ours(text, entity_set)
    repeated = [(q.replace("{n}", "7"), entity_set) for entity_set, q in FILTERS]
    for text, entity_set in repeated:
        cached(text, entity_set)

    overall = {key: [] for key in ("theirs", "ours", "cached", "theirs_all", "ours_all")}
    phases = []
    per_filter = {index: ([], [], []) for index in range(len(FILTERS))}
    for r in range(args.rounds):
        prip = [(text, entity_set) for entity_set, text in _texts(r)]
        every = [(text, entity_set) for entity_set, text in _texts(r, FILTERS)]
        prip_repeated = repeated[: len(QUERIES)] * N_VALUES
        runs = [("theirs", theirs, prip), ("ours", ours, prip), ("cached", cached, prip_repeated),
                ("theirs_all", theirs, every), ("ours_all", ours, every)]
        if r % 2:
            runs.reverse()
        for key, fn, items in runs:
            overall[key].append(_time_per_item(fn, items))
        phases.append(_phases(_texts(r)))
        for index, (entity_set, query) in enumerate(FILTERS):
            items = [(text, entity_set) for text in _variants(query, r)]
            one = [repeated[index]] * N_VALUES
            order = [(0, theirs, items), (1, ours, items), (2, cached, one)]
            for slot, fn, its in (order if r % 2 == 0 else order[::-1]):
                per_filter[index][slot].append(_time_per_item(fn, its))

    med = {key: statistics.median(values) * 1e6 for key, values in overall.items()}
    print(_machine())
    print(f"{len(QUERIES)} PRIP + {len(ODIP_QUERIES)} ODIP client filters x {N_VALUES} variants, "
          f"{args.rounds} interleaved rounds, medians per filter")
    print()
    print(f"{'':44s} {'odata-query':>11s} {'ours':>8s} {'speed-up':>8s}")
    print(f"{'PRIP filters, unique (mixed loop)':44s} {med['theirs']:9.1f}us {med['ours']:6.1f}us "
          f"{med['theirs'] / med['ours']:7.2f}x")
    print(f"{'PRIP filters, repeated (FilterCache)':44s} {med['theirs']:9.1f}us {med['cached']:6.1f}us "
          f"{med['theirs'] / med['cached']:7.1f}x")
    print(f"{'all 16 filters, unique (mixed loop)':44s} {med['theirs_all']:9.1f}us {med['ours_all']:6.1f}us "
          f"{med['theirs_all'] / med['ours_all']:7.2f}x")
    parse, bind, compile_ = (statistics.median(p[i] for p in phases) * 1e6 for i in range(3))
    print(f"ours (PRIP, unique) = parse {parse:.1f}us + bind {bind:.1f}us + compile {compile_:.1f}us")
    print()
    print(f"{'filter (50 variants in a row)':36s} {'odata-query':>11s} {'ours':>8s} {'speed-up':>8s} {'cached':>7s}")
    for index, label in enumerate(LABELS):
        t, o, c = (statistics.median(values) * 1e6 for values in per_filter[index])
        print(f"{label:36s} {t:9.1f}us {o:6.1f}us {t / o:7.2f}x {c:5.1f}us")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for entity_set, text in _texts(99):
            ours(text, entity_set)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
