"""Query-core benchmark: parse + bind + compile of the client filters of contract section 6.

Compares, in one process and on the same strings:

* ``odata-query``: ``ODataParser().parse(ODataLexer().tokenize(text))`` (parsing only);
* ours, unique filters: ``parse_filter`` + ``bind_filter`` + ``compile_filter`` (the SQLAlchemy
  expression the backend executes);
* ours, repeated filters through :class:`proseo_odata.odata.cache.FilterCache`.

Unique filters get a fresh number inside a literal on every round so no cache can help.
Run: ``python -m bench`` (or ``make bench``); ``--rounds N``, ``--profile`` prints cProfile's top
entries of our unique-filter path.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import statistics
import time

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
N_VALUES = 50  # distinct numbers per round


def _odata_query_parse():
    from odata_query.grammar import ODataLexer, ODataParser

    lexer, parser = ODataLexer(), ODataParser()
    return lambda text: parser.parse(lexer.tokenize(text))


def _ours():
    from proseo_odata.odata import edm
    from proseo_odata.odata.binding import bind_filter
    from proseo_odata.odata.parser import parse_filter
    from proseo_odata.storage.mapping import compile_filter
    from proseo_odata.storage.schema import SchemaTables

    tables = SchemaTables(dialect="postgresql", postgis=True)

    def run(text):
        return compile_filter("Products", bind_filter(parse_filter(text), edm.PRODUCT), tables)

    return run, tables


def _texts(round_number):
    out = []
    for i in range(N_VALUES):
        n = round_number * N_VALUES + i + 1
        out.extend(q.replace("{n}", str(n)) for q in QUERIES)
    return out


def _time_per_filter(fn, texts):
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return (time.perf_counter() - start) / len(texts)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    from proseo_odata.odata import edm
    from proseo_odata.odata.cache import FilterCache
    from proseo_odata.storage.mapping import compile_filter

    theirs = _odata_query_parse()
    ours, tables = _ours()
    cache = FilterCache()

    def cached(text):
        return cache.sql_filter(text, edm.PRODUCT, ("Products", id(tables)),
                                lambda bound: compile_filter("Products", bound, tables))

    # warm up (grammar build, imports)
    for text in _texts(1000):
        theirs(text)
        ours(text)
    repeated = _texts(2000)[: len(QUERIES)]
    for text in repeated:
        cached(text)

    t_theirs, t_ours, t_cached = [], [], []
    for r in range(args.rounds):
        texts = _texts(r)
        t_theirs.append(_time_per_filter(theirs, texts))
        t_ours.append(_time_per_filter(ours, texts))
        t_cached.append(_time_per_filter(cached, repeated * N_VALUES))
    m_theirs, m_ours, m_cached = (statistics.median(x) for x in (t_theirs, t_ours, t_cached))
    print(f"python {platform.python_version()}, {len(QUERIES)} client filters x {N_VALUES} variants, "
          f"{args.rounds} rounds (medians per filter)")
    print(f"odata-query parse only            {m_theirs * 1e6:10.1f} us")
    print(f"ours parse+bind+compile (unique)  {m_ours * 1e6:10.1f} us   speed-up {m_theirs / m_ours:6.2f}x")
    print(f"ours through the cache (repeated) {m_cached * 1e6:10.1f} us   speed-up {m_theirs / m_cached:6.2f}x")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for text in _texts(99):
            ours(text)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
