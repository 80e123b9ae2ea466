"""Benchmark and profile of the OData ``$filter`` parser against the ``odata-query`` package.

Run from the repository root::

    .venv/bin/python -m bench.parser_profile            # medians + top cProfile entries
    .venv/bin/python -m bench.parser_profile --no-profile --rounds 41

For each filter (typical client filters of contract section 6) it prints the median time of one
``parse_filter`` call, of ``parse_filter`` with the fast path switched off (every text through
Lark, i.e. the parser before the fast path) and of one ``odata_query`` parse (lexer + parser) of
the same text, after a warm-up, and the ratios to odata-query. Then it profiles ``parse_filter``
over the whole list with cProfile.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import platform
import pstats
import statistics
import sys
import time

from proseo_odata.odata import parser as parser_module
from proseo_odata.odata.parser import get_parser, parse_filter

#: (label, filter) -- the client filters of contract section 6 and the issue's three sizes.
FILTERS = [
    ("short", "Online eq true"),
    ("name contains", "contains(Name,'S2A_MSIL1C')"),
    ("name startswith", "startswith(Name,'S1A_IW_GRDH_1SDV_2023')"),
    ("three conditions",
     "contains(Name,'_AUX_') or contains(Name,'_AX_') and PublicationDate gt 2019-05-15T00:00:00.000Z"),
    ("content date window",
     "ContentDate/Start gt 2022-05-03T00:00:00.000Z and ContentDate/End lt 2022-05-03T12:00:00.000Z"),
    ("attribute lambda",
     "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
     "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')"),
    ("attribute lambda in",
     "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
     "att/OData.CSC.StringAttribute/Value in ('A','B'))"),
    ("double attribute",
     "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
     "att/OData.CSC.DoubleAttribute/Value le 40.0)"),
    ("intersects",
     "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((12.655118166047592 47.44667197521409,"
     "21.39065656328509 48.347694733853245,28.334291357162826 41.877123516783655,"
     "17.47086198383573 40.35854475076158,12.655118166047592 47.44667197521409))')"),
    ("typical product query",
     "Collection/Name eq 'SENTINEL-2' and contains(Name,'MSIL2A') and "
     "ContentDate/Start gt 2022-05-03T00:00:00.000Z and ContentDate/Start lt 2022-05-21T00:00:00.000Z and "
     "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
     "att/OData.CSC.DoubleAttribute/Value le 40.0)"),
    ("odip order", "InputProductReference/any(att:att/Reference eq 'S2B_OPER_MSI_L0__GR_2TPS')"),
    ("odip options",
     "WorkflowOptions/any(att:att/Name eq 'x' and att/OData.CSC.StringAttribute/Value eq 'y') and "
     "OrderOutputSize eq '1024'"),
]

# odata-query's grammar has no qualified function calls with named parameters and no casts
# after a collection in the same shape, but it parses all of the above except where noted.


def _odata_query_parse():
    try:
        from odata_query.grammar import ODataLexer, ODataParser
    except ImportError:  # pragma: no cover - the package is a test/bench dependency
        return None
    lexer, parser = ODataLexer(), ODataParser()
    return lambda text: parser.parse(lexer.tokenize(text))


def _lark_only():
    """parse_filter as it was before the fast path: every text through the Lark LALR parser."""

    def parse(text):
        parser_module._FAST_PATH = False
        try:
            return parse_filter(text)
        finally:
            parser_module._FAST_PATH = True

    return parse


def _medians_us(fns, text, rounds, inner):
    """Median µs per call of each function; the functions are timed in turns within every round,
    so a load change on the (shared) machine affects all of them alike."""
    for fn in fns:
        for _ in range(inner):  # warm-up (also builds parsers and caches)
            fn(text)
    samples = [[] for _ in fns]
    clock = time.perf_counter
    for _ in range(rounds):
        for fn, out in zip(fns, samples):
            t0 = clock()
            for _ in range(inner):
                fn(text)
            out.append((clock() - t0) / inner * 1e6)
    return [statistics.median(s) for s in samples]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21, help="timed rounds per filter (median taken)")
    ap.add_argument("--inner", type=int, default=50, help="calls per timed round")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile part")
    ap.add_argument("--top", type=int, default=25, help="cProfile entries shown")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    get_parser()
    build_ms = (time.perf_counter() - t0) * 1e3
    other = _odata_query_parse()
    print(f"# python {platform.python_version()} on {platform.machine()} {platform.system()}, "
          f"{platform.processor() or 'cpu?'}; parser build {build_ms:.0f} ms")
    print(f"# medians of {args.rounds} rounds x {args.inner} calls, after warm-up; µs per parse")
    print(f"{'filter':<24}{'parse_filter':>13}{'Lark only':>11}{'odata-query':>13}{'ours/oq':>9}{'Lark/oq':>9}")
    ratios, lark_ratios = [], []
    lark = _lark_only()
    for label, text in FILTERS:
        fns = [parse_filter, lark]
        if other is not None:
            try:
                other(text)
            except Exception:  # noqa: BLE001 - odata-query cannot parse every client form
                pass
            else:
                fns.append(other)
        times = _medians_us(fns, text, args.rounds, args.inner)
        ours, old = times[0], times[1]
        if len(times) == 3:
            theirs = times[2]
            ratios.append(ours / theirs)
            lark_ratios.append(old / theirs)
            print(f"{label:<24}{ours:>13.1f}{old:>11.1f}{theirs:>13.1f}{ours / theirs:>9.2f}{old / theirs:>9.2f}")
        else:
            print(f"{label:<24}{ours:>13.1f}{old:>11.1f}{'n/a':>13}")
    if ratios:
        print(f"{'median ratio':<24}{'':>13}{'':>11}{'':>13}{statistics.median(ratios):>9.2f}"
              f"{statistics.median(lark_ratios):>9.2f}")
    print()

    if not args.no_profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(200):
            for _label, text in FILTERS:
                parse_filter(text)
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime")
        stats.print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
