"""How near raw SQL a PRIP page can get through HTTP with this stack (issue 12, the cheap shapes
row): the bench application (:mod:`bench.http_catalogue`'s .ini, waitress) side by side with the
same application whose storage call costs nothing more than raw SQL, and the raw SQL itself.

Run (from the repository root), on a catalogue kept by ``bench.catalogue``/``bench.profile_page``::

    .venv/bin/python -m bench.page_bound --url URL --products 1000000 --shapes date,orbit,top100

Three measurements per request, interleaved in an order rotated at each request, medians over ``--rounds`` passes of each shape's
variants (the first pass is warm-up):

* **served**: the application as it is, through HTTP;
* **bound**: the same application, same server and settings, whose
  ``query_product_texts`` (the PRIP page view's storage call) replays the statements the real
  one ran for these options on a psycopg connection and hands back their rows as the page: a
  storage layer with no cost of its own, the lower bound of what any storage work can reach;
  everything else (routing, authentication, options, the response, waitress, the socket) is the
  application's own;
* **bare**: no Pyramid, no SQLAlchemy: a plain WSGI application under the same waitress that
  answers each of these requests (found by its query string; a request without an
  ``Authorization`` header is refused) by running the same statements on a psycopg connection
  and writing the same body (``@odata.context``, each row's members text in braces, a next link)
  with the same headers: the floor of a page path outside Pyramid's pipeline and SQLAlchemy's
  execution; it has no authentication, options or errors of its own;
* **pyramid** and **cornice** (with ``--floors``): *bare*'s page from a view of a minimal
  Pyramid application (one route) and from a minimal Cornice service: what the frameworks the
  design asks for cost themselves;
* **streamed** (with ``--streamed``): *bare*, its last statement's rows written to the response as
  PostgreSQL produces them (psycopg's ``Cursor.stream``, ``--stream-size`` rows per fetch, every
  20 products one write, no ``Content-Length``): whether overlapping the page's text and its
  sending with the statement gains anything;
* **gunicorn** (with ``--gunicorn WORKERS``): the application as it is, under production.ini's
  server (gunicorn, ``gthread`` workers: :func:`bench.http_catalogue.start_gunicorn`) instead of
  waitress: what a production site serves;
* **SQL**: those statements on a psycopg connection (:class:`bench.http_catalogue.SqlReference`).

The ratios bound/SQL show what remains when the storage costs nothing, bare/SQL what a Python
WSGI server and HTTP alone cost.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time

from bench import catalogue as cat
from bench import http_catalogue as hc

#: What both replaying servers start with (argv: ini, port, threads, pickle of the captured
#: statements, database URL): ``replayed(statements)``, the rows of the last one, run on one
#: psycopg connection with the storage's session settings.
_REPLAY = """\
import pickle, sys, threading
import psycopg, waitress
from bench import catalogue as cat

with open(sys.argv[4], "rb") as handle:
    captured = pickle.load(handle)
connection = psycopg.connect(cat._libpq(sys.argv[5]), autocommit=True,
                             options="-c timezone=UTC -c plan_cache_mode=force_custom_plan")
lock = threading.Lock()

def replayed(statements):
    with lock, connection.cursor() as cursor:
        for statement, parameters in statements:
            cursor.execute(statement, parameters)
            rows = cursor.fetchall()
    return rows
"""

#: The application under waitress, with ``query_product_texts`` replaying the captured statements
#: (the pickle: {repr(Query): statements}).
SERVE_BOUND = _REPLAY + """
from pyramid.paster import get_app, setup_logging
from proseo_odata.storage.base import ProductText, QueryResult
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

def replay(self, mission, query, *, visibilities=None, members, render):
    rows, top = replayed(captured[repr(query)]), query.top
    more = top is not None and len(rows) > top
    return QueryResult(items=[ProductText(row[1], None) for row in rows[:top]], count=None,
                       next_skiptoken="bound" if more else None, next_skip=top if more else None)

SQLAlchemyStorage.query_product_texts = replay
setup_logging(sys.argv[1])
waitress.serve(get_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]),
               connection_limit=200, channel_timeout=600)
"""

#: The bare page's body for a captured query string, written as :data:`SERVE_BARE` writes it.
_BARE_PAGE = """
HEADERS = [("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true"), ("OData-Version", "4.0")]

def page(environ, query):
    statements, top = captured[query]
    rows = replayed(statements)
    body = '{"@odata.context": "$metadata#Products", "value": [' + ", ".join("{" + row[1] + "}" for row in rows[:top]) + "]"
    if len(rows) > top:
        body += ', "@odata.nextLink": "http://' + environ["HTTP_HOST"] + environ["PATH_INFO"] + "?" + query + '&%24skip=100"'
    return (body + "}").encode("utf-8")
"""

#: A plain WSGI application under waitress answering the captured requests (the pickle: {query
#: string: (statements, $top)}; the ini is not read).
SERVE_BARE = _REPLAY + _BARE_PAGE + """
def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query not in captured or not environ.get("HTTP_AUTHORIZATION"):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    data = page(environ, query)
    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(data)))])
    return [data]

waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), connection_limit=200,
               channel_timeout=600)
"""

#: The bare page from a Pyramid view (``--floors``): one route, one view, no tweens of its own.
SERVE_PYRAMID = _REPLAY + _BARE_PAGE + """
from pyramid.config import Configurator
from pyramid.response import Response

def view(request):
    query = request.environ.get("QUERY_STRING", "")
    if query not in captured or not request.authorization:
        return Response(status=404)
    return Response(page(request.environ, query), headerlist=list(HEADERS))

with Configurator() as config:
    config.add_route("products", "/proseo/prip/odata/v1/Products")
    config.add_view(view, route_name="products", request_method="GET")
    app = config.make_wsgi_app()
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), connection_limit=200,
               channel_timeout=600)
"""

#: The bare page from a Cornice service (``--floors``), as the application declares its routes.
SERVE_CORNICE = SERVE_PYRAMID.replace("""
with Configurator() as config:
    config.add_route("products", "/proseo/prip/odata/v1/Products")
    config.add_view(view, route_name="products", request_method="GET")
""", """
from cornice import Service

products = Service(name="products", path="/proseo/prip/odata/v1/Products")
products.add_view("GET", view)
with Configurator() as config:
    config.include("cornice")
    config.add_cornice_service(products)
""")

#: *bare*, streamed: the last statement's rows written as they come (the environment's
#: PAGE_BOUND_STREAM_SIZE rows per fetch). Every row is read: a stream left early makes psycopg
#: cancel the statement, a new connection to the server (+3 ms a page).
SERVE_STREAMED = _REPLAY + _BARE_PAGE + """
import os
SIZE = int(os.environ["PAGE_BOUND_STREAM_SIZE"])

def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query not in captured or not environ.get("HTTP_AUTHORIZATION"):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    statements, top = captured[query]
    start_response("200 OK", list(HEADERS))

    def body():
        parts, n = ['{"@odata.context": "$metadata#Products", "value": ['], 0
        with lock, connection.cursor() as cursor:
            for statement, parameters in statements[:-1]:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            for row in cursor.stream(*statements[-1], size=SIZE):
                n += 1
                if n <= top:
                    parts.append(("{" if n == 1 else ", {") + row[1] + "}")
                    if len(parts) >= 20:
                        yield "".join(parts).encode("utf-8")
                        parts = []
        parts.append("]")
        if n > top:
            parts.append(', "@odata.nextLink": "http://' + environ["HTTP_HOST"] + environ["PATH_INFO"] + "?" + query
                         + '&%24skip=100"')
        yield ("".join(parts) + "}").encode("utf-8")

    return body()

waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]), connection_limit=200,
               channel_timeout=600)
"""


def add_common_arguments(parser: argparse.ArgumentParser, shapes: str) -> None:
    """The catalogue, its shapes and the passes (this module's and :mod:`bench.page_ablation`'s)."""
    parser.add_argument("--url", required=True, help="a catalogue database kept by bench.catalogue or profile_page")
    parser.add_argument("--products", type=int, required=True, help="its product count (the shapes' variants)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--shapes", default=shapes)
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=4)


def capture(reference, queries: dict, names: list) -> tuple[dict, dict, dict]:
    """``(statements, captured, bare_captured)`` for the shapes ``names`` of ``queries``
    (:func:`bench.http_catalogue.shapes`): each variant's statements, by its pairs, run by the
    real storage (``reference.capture``); the same by ``repr`` of its storage query (what the
    *bound* servers replay); and (statements, ``$top``) by its query string (the *bare* ones)."""
    from proseo_odata.query import Paging, build_query

    statements, captured, bare_captured = {}, {}, {}
    for name in names:
        _, visibility, variants = queries[name]
        for pairs in variants:
            statements[tuple(pairs)] = reference.capture(pairs, visibility)
            query = build_query("Products", list(pairs), Paging(100, 1000)).query
            captured[repr(query)] = statements[tuple(pairs)]
            bare_captured[hc.query_string(pairs)] = (statements[tuple(pairs)], query.top)
    return statements, captured, bare_captured


def medians(clients: dict, reference, statements: dict, variants: list, token: str, rounds: int) -> dict:
    """Median ms per label (each of ``clients`` and ``"sql"``, the raw statements) over
    ``rounds`` passes of ``variants``, the first pass left out (warm-up). The labels take turns
    in an order rotated by one at each request: in a fixed order the first one after the SQL was
    0.3-0.6 ms slower than the same server in another place (``bench.page_ablation``'s control)."""
    labels = [*clients, "sql"]
    times = {label: [] for label in labels}
    turn = 0
    for _ in range(rounds):
        for pairs in variants:
            shift = turn % len(labels)
            turn += 1
            for label in labels[shift:] + labels[:shift]:
                start = time.perf_counter()
                if label == "sql":
                    reference.run(statements[tuple(pairs)])
                else:
                    clients[label].get(pairs, token)
                times[label].append((time.perf_counter() - start) * 1000)
    return {label: statistics.median(values[len(variants):]) for label, values in times.items()}


def start_bound(url: str, workdir: str, captured: dict, threads: int, code: str = SERVE_BOUND, name: str = "bound"):
    from live_server import free_port  # tests/live_server.py, on the path since bench.catalogue

    path = os.path.join(workdir, f"{name}.pickle")
    with open(path, "wb") as handle:
        pickle.dump(captured, handle)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", code, os.path.join(workdir, "bench.ini"), str(port),
                                str(threads), path, url],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, f"{name}.log"), "wb"))
    deadline = time.monotonic() + 60
    while True:
        try:
            if hc.Client(port).request("GET", hc.PRIP + "/")[0] in (200, 401, 404):  # 404: bare
                return process, port
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()  # not left running when it answers nothing we know
            raise RuntimeError(f"the {name} server did not start: see " + os.path.join(workdir, f"{name}.log"))
        time.sleep(0.3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_bound", description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "date,orbit,top100")
    parser.add_argument("--floors", action="store_true",
                        help="also the bare page from a Pyramid view and from a Cornice service (two more columns)")
    parser.add_argument("--streamed", action="store_true", help="also the bare page streamed (one more column)")
    parser.add_argument("--stream-size", type=int, default=20, help="rows per fetch of --streamed (20)")
    parser.add_argument("--gunicorn", type=int, default=0, metavar="WORKERS",
                        help="also the application under production.ini's server, gunicorn with this many gthread "
                             "worker processes (column 'gunicorn'; 0: not)")
    args = parser.parse_args(argv)

    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(args.url)
    reference = hc.SqlReference(storage, args.url)
    queries = hc.shapes(args.products, args.variants, args.seed, cat.Generator(args.seed).tiles)
    names = args.shapes.split(",")
    statements, captured, bare_captured = capture(reference, queries, names)
    workdir = tempfile.mkdtemp(prefix="page-bound-")
    os.makedirs(os.path.join(workdir, "archive"))
    served, served_port = hc.start_app(args.url, args.threads, workdir)
    servers = []
    try:
        bound, bound_port = start_bound(args.url, workdir, captured, args.threads)
        servers.append(bound)
        bare, bare_port = start_bound(args.url, workdir, bare_captured, args.threads, SERVE_BARE, "bare")
        servers.append(bare)
        clients = {"served": hc.Client(served_port), "bound": hc.Client(bound_port), "bare": hc.Client(bare_port)}
        if args.gunicorn:
            gunicorn, gunicorn_port = hc.start_gunicorn(workdir, args.gunicorn)
            servers.append(gunicorn)
            clients["gunicorn"] = hc.Client(gunicorn_port)
        if args.floors:
            for label, code in (("pyramid", SERVE_PYRAMID), ("cornice", SERVE_CORNICE)):
                process, port = start_bound(args.url, workdir, bare_captured, args.threads, code, label)
                servers.append(process)
                clients[label] = hc.Client(port)
        if args.streamed:
            os.environ["PAGE_BOUND_STREAM_SIZE"] = str(args.stream_size)
            streamed, streamed_port = start_bound(args.url, workdir, bare_captured, args.threads, SERVE_STREAMED,
                                                  "streamed")
            servers.append(streamed)
            clients["streamed"] = hc.Client(streamed_port)
        token = hc.token(clients["served"], "reader")
        labels = [*clients, "sql"]
        print("| shape | " + " | ".join(f"{label} ms" for label in labels) + " | "
              + " | ".join(f"{label}/SQL" for label in labels[:-1]) + f" |  (load average {os.getloadavg()[0]:.1f})")
        print("|---|" + "---:|" * (2 * len(labels) - 1))
        for name in names:
            _, visibility, variants = queries[name]
            for pairs in variants:  # they serve the same page
                pages = [json.loads(client.get(pairs, token))["value"] for client in clients.values()]
                if any(page != pages[0] for page in pages):
                    raise RuntimeError(f"{name}: the {', '.join(clients)} pages differ for {pairs}")
            med = medians(clients, reference, statements, variants, token, args.rounds)
            print(f"| `{name}` | " + " | ".join(f"{med[label]:.2f}" for label in labels) + " | "
                  + " | ".join(f"{med[label] / med['sql']:.2f}x" for label in labels[:-1]) + " |", flush=True)
    finally:
        served.terminate()
        for process in servers:
            process.terminate()
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
