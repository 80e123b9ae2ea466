"""Catalogue queries through HTTP against the raw SQL the storage runs (issue 12, query rows).

Run (from the repository root)::

    .venv/bin/python -m bench.http_catalogue --products 100000        # `make bench`, a few minutes
    timeout 3600 .venv/bin/python -m bench.http_catalogue --products 1000000

What it does:

1. The catalogue benchmark's server and data (:mod:`bench.catalogue`: a throwaway PostgreSQL 15 +
   PostGIS on 127.0.0.1, the real migration, N products by COPY, VACUUM ANALYZE, samples read
   back through the storage).
2. Three users, one per visibility class (``PUBLIC`` only; ``+ RESTRICTED``; ``ALL``), and the
   project's PRIP/ODIP application (``proseo_odata_web``, the .ini settings of ``make run``
   against this database) served by waitress on 127.0.0.1 in a separate process (so its CPU is
   its own), ``--server-threads`` threads. Requests carry a bearer token (as clients do; a
   password check per request would measure the password hash).
3. For every shape of the issue's table (``type_cloud`` for each visibility class, ``$count=true``
   unfiltered and with ``startswith(Name,'S2')`` for each class, name, date, orbit, Intersects,
   top 100) ``--variants`` literal variants: each variant once through HTTP (a keep-alive
   connection; the time until the whole body is read) and once as the raw SQL the storage runs
   for it (the statements captured from ``query_product_entries``, the page view's call,
   with the same options and visibility, replayed on a plain psycopg connection with the
   same session settings, every row fetched). Shapes and the two paths interleaved, the order reversed every other
   round. Median and p95 of each; the ratio HTTP/SQL of the medians.
4. Load: ``--clients`` (16) threads on keep-alive connections, each shape alone for
   ``--load-requests`` requests, then all shapes mixed for ``--load-seconds``: requests/s, CPU
   seconds of the server process and of PostgreSQL (postmaster and children, from /proc), so
   CPU ms per request on each side and requests per CPU-second ("per core").
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
import uuid

from bench import catalogue as cat
from bench.ingest import server_cpu

PRIP = "/proseo/prip/odata/v1"
TOKEN_PATH = "/proseo/prip/v1/token"
PASSWORD = "bench-password"
#: visibility class -> (user name, roles)
USERS = {
    "public": ("reader", ["PRIP_USER"]),
    "restricted": ("restricted", ["PRIP_USER", "PRODUCT_READER_RESTRICTED"]),
    "all": ("internal", ["PRIP_USER", "PRODUCT_READER_ALL"]),
}
TARGET_MS = 100.0

INI = """\
[app:main]
use = egg:proseo-odata
pyramid.includes =
    pyramid_tm
proseo.storage.backend = proseo_odata.storage.sqlalchemy
proseo.storage.url = {url}
proseo.archive.backend = proseo_odata.archive.local
proseo.archive.path = {archive}
proseo.prip.prefix = /proseo/prip/odata/v1
proseo.odip.prefix = /proseo/odip/odata/v1
proseo.prip.token_path = /proseo/prip/v1/token
proseo.odip.token_path = /proseo/odip/v1/token
proseo.page_size.default = 100
proseo.page_size.max = 1000
proseo.seed_aliases = true
proseo.default_mission = {mission}
proseo.token.secret = bench-secret-{secret}
proseo.secrets.key = 6bqS3mB2kNwQ0yH1vH6l4WcZfG9sYpJtR2uA8eLxK0c=
proseo.token.lifetime = 36000
proseo.workers = 0
proseo.notify.dispatcher = false

[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARN
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic
[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""

SERVE = textwrap.dedent("""\
    import sys, waitress
    from pyramid.paster import get_app, setup_logging
    setup_logging(sys.argv[1])
    app = get_app(sys.argv[1])
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=int(sys.argv[3]),
                   connection_limit=200, channel_timeout=600)
""")


# --------------------------------------------------------------------------------------------
# the query shapes


def shapes(n: int, variants: int, seed: int, tiles) -> dict:
    """name -> (description, visibility class, [query-string pairs per variant])."""
    rng = random.Random(seed + 11)
    pick = lambda seq: seq[rng.randrange(len(seq))]  # noqa: E731
    rand_time = lambda: cat._ts(rng.uniform(0, cat.SPAN - 30 * 86400)).replace(microsecond=0)  # noqa: E731
    optical = [t for t, _, _ in cat.PRODUCT_TYPES if t in cat.OPTICAL]
    out = {}

    def add(key, description, visibility, make):
        out[key] = (description, visibility, [make() for _ in range(variants)])

    def type_cloud():
        return [("$filter", cat.PT.format(pick(optical)) + " and Attributes/OData.CSC.DoubleAttribute/any("
                 "att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le "
                 f"{rng.choice([1, 2, 5, 5, 5, 10, 20])}.{rng.randrange(10)})"),
                ("$orderby", "ContentDate/Start desc"), ("$top", "100")]

    def count_all():
        return [("$count", "true"), ("$top", str(rng.choice([10, 20, 50])))]

    def count_s2():
        return [("$filter", "startswith(Name,'S2')"), ("$count", "true"), ("$top", str(rng.choice([10, 20, 50])))]

    for visibility in USERS:
        add(f"type_cloud_{visibility}", "productType eq X and cloudCover le 1..20, orderby ContentDate/Start desc, "
            "top 100", visibility, type_cloud)
    for visibility in USERS:
        add(f"count_{visibility}", "$count=true, no filter (top 10-50)", visibility, count_all)
    for visibility in USERS:
        add(f"count_s2_{visibility}", "$count=true, startswith(Name,'S2') (top 10-50)", visibility, count_s2)

    def name():
        year = rng.choice(["2022", "2023", "2024"])
        return [("$filter", f"startswith(Name,'{rng.choice(['S2A', 'S2B'])}_{rng.choice(['MSIL1C', 'MSIL2A'])}"
                 f"_{year}{rng.randint(1, 12):02d}')"), ("$top", "100")]
    add("name", "startswith(Name,'S2A_MSIL1C_2024MM'), top 100", "public", name)

    def date():
        start = rand_time()
        end = start + dt.timedelta(days=rng.choice([1, 7]))
        return [("$filter", f"ContentDate/Start ge {cat._iso(start)} and ContentDate/Start lt {cat._iso(end)}"),
                ("$orderby", "ContentDate/Start asc"), ("$top", "100")]
    add("date", "ContentDate/Start window (1/7 days), orderby ContentDate/Start, top 100", "public", date)

    def orbit():
        return [("$filter", "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
                 f"att/OData.CSC.IntegerAttribute/Value lt {rng.randrange(15_000, 70_000)})"), ("$top", "100")]
    add("orbit", "orbitNumber (Integer attribute) lt X, top 100", "public", orbit)

    add("intersects", "OData.CSC.Intersects(polygon 2-10 x 2-8 degrees), top 100", "public",
        lambda: cat.intersects_pairs(rng))

    def top():
        return [("$top", "100"), ("$skip", str(rng.randrange(0, 5) * 100))]
    add("top100", "no filter, top 100 ($skip 0-400)", "public", top)
    return out


# --------------------------------------------------------------------------------------------
# HTTP and raw SQL


def query_string(pairs) -> str:
    """The query string :meth:`Client.get` sends for ``pairs``."""
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


class Client:
    """One keep-alive connection; ``get`` returns (status, body bytes)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt == 2:
                    raise

    def get(self, pairs, token):
        path = f"{PRIP}/Products?" + query_string(pairs)
        status, body = self.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            raise RuntimeError(f"{status} for {path}: {body[:300]!r}")
        return body


def token(client: Client, user: str) -> str:
    form = urllib.parse.urlencode({"grant_type": "password", "username": f"{cat.MISSION}\\{user}",
                                   "password": PASSWORD})
    status, body = client.request("POST", TOKEN_PATH, body=form,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"token for {user}: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


class SqlReference:
    """The statements the PRIP page view's storage call (``query_product_entries``) runs for some
    options, replayed on a psycopg connection."""

    def __init__(self, storage, url: str):
        import psycopg
        from proseo_odata.model.visibility import visible_classes

        from proseo_odata_web.odata_json import members_text, product_member_names, product_members

        self.storage = storage
        self.runner = cat.QueryRunner(storage)
        self.runner.method = "query_product_texts"  # the PRIP page view's call (no $select here)
        self.runner.options = {"members": product_member_names(),
                               "render": lambda entry: members_text(product_members(entry))}
        self.runner.run([("$top", "1")])  # the storage's first-use look-ups, not to be captured
        self.visible = {v: visible_classes(roles) for v, (_, roles) in USERS.items()}
        # the storage's session settings (create_engine's connect options)
        self.conn = psycopg.connect(cat._libpq(url), autocommit=True,
                                    options="-c timezone=UTC -c plan_cache_mode=force_custom_plan")

    def capture(self, pairs, visibility, rows: bool = False) -> list:
        """The statements of the page view's call, or with ``rows`` of ``query_product_entries``
        (the page's rows and columns without their JSON: what the page ran before the database
        wrote the JSON)."""
        import sqlalchemy as sa

        captured = []
        method, options = self.runner.method, self.runner.options
        if rows:
            self.runner.method, self.runner.options = "query_product_entries", {}

        def listen(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT"):
                captured.append((statement, parameters))

        self.runner.visibilities = self.visible[visibility]
        sa.event.listen(self.storage.engine, "before_cursor_execute", listen)
        try:
            self.runner.run(pairs)
        finally:
            sa.event.remove(self.storage.engine, "before_cursor_execute", listen)
            self.runner.method, self.runner.options = method, options
        return captured

    def run(self, statements) -> int:
        rows = 0
        with self.conn.cursor() as cursor:
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                rows += len(cursor.fetchall())
        return rows


def start_app(url: str, threads: int, workdir: str, prelude: str = ""):
    """The bench application on ``url`` under waitress in a process of its own, and its port.
    ``prelude``: Python run in that process first (a comparison's setting)."""
    ini = os.path.join(workdir, "bench.ini")
    with open(ini, "w", encoding="utf-8") as handle:
        handle.write(INI.format(url=url, archive=os.path.join(workdir, "archive"), mission=cat.MISSION,
                                secret=uuid.uuid4().hex))
    from live_server import free_port  # tests/live_server.py, on the path since cat._make_server

    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", prelude + "\n" + SERVE, ini, str(port), str(threads)],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "server.log"), "wb"))
    deadline = time.monotonic() + 60
    while True:
        try:
            client = Client(port)
            status, _ = client.request("GET", PRIP + "/")
            if status in (200, 401):
                return process, port
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            with open(os.path.join(workdir, "server.log"), encoding="utf-8", errors="replace") as handle:
                raise RuntimeError("the application server did not start:\n" + handle.read()[-3000:])
        time.sleep(0.3)


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# measurements


def latencies(client, tokens, reference, queries, warmup: int = 2) -> dict:
    keys = list(queries)
    if not keys:
        return {}
    variants = len(next(iter(queries.values()))[2])
    captured = {k: [reference.capture(p, queries[k][1]) for p in queries[k][2]] for k in keys}
    rows = {k: [reference.capture(p, queries[k][1], rows=True) for p in queries[k][2]] for k in keys}
    for key in keys:
        _, visibility, pairs = queries[key]
        for i in range(warmup):
            client.get(pairs[-1 - i], tokens[visibility])
            reference.run(captured[key][-1 - i])
            reference.run(rows[key][-1 - i])
    out = {k: {"http": [], "sql": [], "rows": [], "bytes": []} for k in keys}
    for r in range(variants):
        order = keys if r % 2 == 0 else keys[::-1]
        for key in order:
            _, visibility, pairs = queries[key]
            paths = ("http", "sql", "rows") if (r // 2) % 2 == 0 else ("rows", "sql", "http")
            for path in paths:
                t0 = time.perf_counter()
                if path == "http":
                    body = client.get(pairs[r], tokens[visibility])
                    out[key]["bytes"].append(len(body))
                else:
                    reference.run((captured if path == "sql" else rows)[key][r])
                out[key][path].append((time.perf_counter() - t0) * 1000)
    return out


def load(port, tokens, work, clients: int, *, requests: int = 0, seconds: float = 0.0) -> dict:
    """``clients`` threads sending ``work`` ((visibility, pairs) items, round robin from a random
    start) until ``requests`` are done or ``seconds`` have passed. Wall time and count."""
    lock = threading.Lock()
    state = {"done": 0, "errors": 0, "issued": 0}
    deadline = time.monotonic() + seconds if seconds else None

    def worker(index):
        client = Client(port)
        i = random.Random(index).randrange(len(work))
        while True:
            with lock:
                if (requests and state["issued"] >= requests) or (deadline and time.monotonic() >= deadline):
                    return
                state["issued"] += 1
            visibility, pairs = work[i % len(work)]
            i += 1
            try:
                client.get(pairs, tokens[visibility])
                with lock:
                    state["done"] += 1
            except Exception:  # noqa: BLE001 - counted and reported
                with lock:
                    state["errors"] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"wall": time.perf_counter() - t0, "done": state["done"], "errors": state["errors"]}


def measured_load(app_pid, datadir, *args, **kwargs) -> dict:
    app0, db0, me0 = process_cpu(app_pid), server_cpu(datadir), time.process_time()
    result = load(*args, **kwargs)
    result.update(app_cpu=process_cpu(app_pid) - app0, db_cpu=server_cpu(datadir) - db0,
                  client_cpu=time.process_time() - me0)
    return result


def report(args, info, timings, queries, lat, loads, mixed) -> str:
    pct = cat.percentile
    lines = [
        f"Date: {dt.datetime.now(cat.UTC):%Y-%m-%d %H:%M} UTC. Machine: nproc = {info['nproc']}, CPU "
        f"`{info['cpu']}`, {info['memory']} RAM, Python {info['python']}, {info['pg']}; load average "
        f"{info['load'][0]:.2f} / {info['load_end'][0]:.2f} at the start / end of the measurements.",
        f"Command: `{' '.join(['.venv/bin/python -m bench.http_catalogue'] + sys.argv[1:])}`",
        f"Load of {args.products:,} products: COPY {timings['copy_s']:.0f} s, indexes {timings['index_s']:.0f} s, "
        f"VACUUM ANALYZE {timings['analyze_s']:.0f} s"
        + (f" (loaded {timings['loaded']} into --data-dir and reused)." if "loaded" in timings else "."),
        "",
        "SQL: the statements the page view's storage call runs (on PostgreSQL the database writes the "
        "products' JSON); SQL rows: the page's rows and columns without JSON (`query_product_entries`).",
        "",
        f"| shape | user | HTTP median ms | HTTP p95 ms | SQL median ms | SQL p95 ms | HTTP/SQL (medians) | "
        f"SQL rows median ms | HTTP/SQL rows | KiB | p95 <= {TARGET_MS:.0f} ms? |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, (description, visibility, _) in queries.items():
        h, s, r = lat[key]["http"], lat[key]["sql"], lat[key]["rows"]
        median = statistics.median
        lines.append(
            f"| `{key}`: {description} | {visibility} | {median(h):.1f} | {pct(h, 95):.1f} | "
            f"{median(s):.1f} | {pct(s, 95):.1f} | {median(h) / median(s):.2f}x | "
            f"{median(r):.1f} | {median(h) / median(r):.2f}x | "
            f"{median(lat[key]['bytes']) / 1024:.0f} | {'yes' if pct(h, 95) <= TARGET_MS else '**no**'} |")
    lines += [
        "",
        f"Load: {args.clients} clients, waitress with {args.server_threads} threads (one process); CPU from /proc.",
        "",
        "| shape | requests | errors | requests/s | server CPU ms/request | PostgreSQL CPU ms/request | "
        "requests per CPU-second (server + PostgreSQL) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, r in list(loads.items()) + ([("**mixed**", mixed)] if mixed else []):
        n = max(r["done"], 1)
        lines.append(f"| {key} | {r['done']} | {r['errors']} | {r['done'] / r['wall']:.1f} | "
                     f"{r['app_cpu'] / n * 1000:.1f} | {r['db_cpu'] / n * 1000:.1f} | "
                     f"{r['done'] / max(r['app_cpu'] + r['db_cpu'], 1e-9):.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# deep $skip, paged the way eodag pages (issue 12 item 3)

#: the user of the walk: every product is visible, so the walk can go deepest
SKIP_VISIBILITY = "all"

GUNICORN = """
[server:main]
use = egg:proseo-odata#gunicorn
listen = 127.0.0.1:{port}
workers = {workers}
worker_class = gthread
threads = 8
timeout = 600
"""


def skip_query(top: int, orderby: str) -> list:
    """What eodag's provider (examples/clients/eodag-proseo-prip.yml) asks for each page, minus
    the filter: its default order, its page size, ``$expand=Attributes``."""
    return [("$orderby", orderby), ("$top", str(top)), ("$expand", "Attributes")]


def _next_link(body: bytes):
    """``($skip, $skiptoken)`` of the page's ``@odata.nextLink``, or ``(None, None)``."""
    link = json.loads(body).get("@odata.nextLink")
    if link is None:
        return None, None
    options = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    return int(options["$skip"][0]), options["$skiptoken"][0]


def with_skip(pairs, skip: int) -> list:
    return pairs + [("$skip", str(skip))] if skip else list(pairs)


def walk_by_skip(port: int, token: str, pairs, pages: int) -> list:
    """eodag's paging: page 1, then each URL rebuilt from the ``$skip`` of the previous page's
    ``@odata.nextLink`` (same options), on a new connection each time (eodag opens a
    ``requests.Session`` per request). ``[(page, skip, ms, next $skiptoken), ...]`` until
    ``pages`` pages or the last one."""
    walked, skip = [], 0
    for page in range(1, pages + 1):
        client = Client(port)
        t0 = time.perf_counter()
        body = client.get(with_skip(pairs, skip), token)
        ms = (time.perf_counter() - t0) * 1000
        client.conn.close()
        next_skip, next_token = _next_link(body)
        walked.append((page, skip, ms, next_token))
        if next_skip is None:
            break
        skip = next_skip
    return walked


def timed_get(port: int, token: str, pairs) -> float:
    client = Client(port)
    t0 = time.perf_counter()
    client.get(pairs, token)
    ms = (time.perf_counter() - t0) * 1000
    client.conn.close()
    return ms


def server_pids(process) -> list:
    """The processes serving: gunicorn's workers (children of its master), or waitress itself."""
    from bench.downloads import children

    return children(process.pid) or [process.pid]


def deep_skip(label: str, process, port: int, tokens, reference, datadir, args) -> dict:
    """One walk by ``$skip`` on the server ``process`` listens for on ``port``, then
    ``args.skip_repeats`` interleaved rounds of: page 1; a deep page the walk served, again by
    its ``$skip`` (from the memo); a jump to a deep ``$skip`` by a user whose scope has no
    remembered position (descending, so none is ever below: an OFFSET); and the raw SQL of a
    deep page by ``$skiptoken`` (the keyset page) and of the jump."""
    pairs = skip_query(args.skip_top, args.skip_orderby)
    token = tokens[SKIP_VISIBILITY]
    pids = server_pids(process)
    cpu0, db0 = sum(process_cpu(p) for p in pids), server_cpu(datadir)
    walked = walk_by_skip(port, token, pairs, args.skip_pages)
    cpu, db = sum(process_cpu(p) for p in pids) - cpu0, server_cpu(datadir) - db0
    last = walked[-1][0]
    deep = [w for w in walked if w[0] > max(1, last * 0.9)] or walked[-1:]
    jumper = "restricted"  # another scope: the memo has nothing of it
    rounds = args.skip_repeats
    deep_skips = [deep[len(deep) * i // rounds][1] for i in range(rounds)]
    # 90% of the depth: within what the restricted user sees (98% of the products)
    jump_skips = sorted({int(w[1] * 0.9) + 1 for w in deep}, reverse=True)[:rounds]
    keyset_pairs = pairs + [("$skiptoken", deep[0][3] or walked[-2][3])]
    sql_keyset = reference.capture(keyset_pairs, SKIP_VISIBILITY)
    sql_jump = reference.capture(with_skip(pairs, jump_skips[-1]), jumper)
    sql_first = reference.capture(pairs, SKIP_VISIBILITY)
    out = {"label": label, "processes": len(pids), "walk": [w[2] for w in walked], "pages": last,
           "deep_pages": (deep[0][0], deep[-1][0]), "deep_skip": (deep[0][1], deep[-1][1]),
           "jump_skip": (jump_skips[-1], jump_skips[0]),
           "deep": [w[2] for w in deep], "cpu_ms_per_page": cpu / len(walked) * 1000,
           "db_ms_per_page": db / len(walked) * 1000,
           "page1": [], "again": [], "jump": [], "sql_keyset": [], "sql_jump": [], "sql_page1": []}
    for r in range(rounds):
        steps = [("page1", lambda: timed_get(port, token, pairs)),
                 ("again", lambda: timed_get(port, token, with_skip(pairs, deep_skips[r]))),
                 ("jump", lambda: timed_get(port, tokens[jumper], with_skip(pairs, jump_skips[r % len(jump_skips)]))),
                 ("sql_keyset", lambda: reference.run(sql_keyset)),
                 ("sql_jump", lambda: reference.run(sql_jump)),
                 ("sql_page1", lambda: reference.run(sql_first))]
        for name, step in (steps if r % 2 == 0 else steps[::-1]):
            t0 = time.perf_counter()
            ms = step()
            out[name].append(ms if name in ("page1", "again", "jump") else (time.perf_counter() - t0) * 1000)
    cat.log(f"deep $skip {label}: {last} pages, deep median {statistics.median(out['deep']):.1f} ms, "
            f"page 1 {statistics.median(out['page1']):.1f} ms, jump {statistics.median(out['jump']):.1f} ms")
    return out


def start_gunicorn(workdir: str, workers: int):
    """The bench's application under production.ini's server (gunicorn, gthread workers)."""
    from pathlib import Path

    from bench.downloads import start_server
    from live_server import free_port

    port = free_port()
    with open(os.path.join(workdir, "bench.ini"), encoding="utf-8") as handle:
        ini = handle.read()
    path = Path(workdir) / "gunicorn.ini"
    path.write_text(ini + GUNICORN.format(port=port, workers=workers), encoding="utf-8")
    return start_server(path, port, Path(workdir) / "gunicorn.log"), port


def skip_report(args, walks) -> str:
    pct = cat.percentile
    med = statistics.median
    lines = [
        "",
        "",
        f"Deep `$skip` the way eodag pages: `{urllib.parse.urlencode(skip_query(args.skip_top, args.skip_orderby))}`"
        f" + `$skip` rebuilt from each `@odata.nextLink`, a new connection per page, user {SKIP_VISIBILITY}; then "
        f"{args.skip_repeats} interleaved rounds (page 1, a deep page again by its `$skip`, a jump to a deep `$skip` "
        "in a scope with nothing remembered, the raw SQL of a keyset page at that depth and of the jump).",
        "",
        "| server | pages walked | walk median / p95 ms | deep pages (last 10%) median / p95 ms | page 1 median / p95 ms "
        "| deep / page 1 | deep again median | jump (OFFSET) median / p95 ms | SQL page 1 / keyset deep / OFFSET jump "
        "median ms | server CPU ms/page | PostgreSQL CPU ms/page |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in walks:
        lines.append(
            f"| {w['label']} ({w['processes']} process{'es' if w['processes'] > 1 else ''}) | {w['pages']} "
            f"(deep: pages {w['deep_pages'][0]}-{w['deep_pages'][1]}, `$skip` {w['deep_skip'][0]:,}-{w['deep_skip'][1]:,}) | "
            f"{med(w['walk']):.1f} / {pct(w['walk'], 95):.1f} | {med(w['deep']):.1f} / {pct(w['deep'], 95):.1f} | "
            f"{med(w['page1']):.1f} / {pct(w['page1'], 95):.1f} | {med(w['deep']) / med(w['page1']):.2f}x | "
            f"{med(w['again']):.1f} | {med(w['jump']):.1f} / {pct(w['jump'], 95):.1f} "
            f"(`$skip` {w['jump_skip'][0]:,}-{w['jump_skip'][1]:,}) | "
            f"{med(w['sql_page1']):.1f} / {med(w['sql_keyset']):.1f} / {med(w['sql_jump']):.1f} | "
            f"{w['cpu_ms_per_page']:.1f} | {w['db_ms_per_page']:.1f} |")
    return "\n".join(lines)


def add_users(storage) -> None:
    """The benchmark's users (:data:`USERS`, :data:`PASSWORD`) that ``storage`` does not hold yet."""
    from proseo_odata.model import User, hash_password

    held = {u.name for u in storage.list_users(cat.MISSION)}
    for user, roles in USERS.values():
        if user not in held:
            storage.add_user(User(cat.MISSION, user, hash_password(PASSWORD), roles))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--variants", type=int, default=30, help="literal variants per shape (timed runs)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-threads", type=int, default=4, help="waitress threads (its default)")
    parser.add_argument("--load-requests", type=int, default=160, help="requests per shape under load")
    parser.add_argument("--load-seconds", type=float, default=30.0, help="mixed load duration")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN the slowest variant of each shape")
    parser.add_argument("--shapes", help="only the shapes whose names start with one of these (comma-separated; "
                        "default: all); `none` for none (the deep $skip walk only)")
    parser.add_argument("--skip-pages", type=int, default=5000,
                        help="deep $skip: pages to walk the way eodag pages (0: no walk)")
    parser.add_argument("--skip-top", type=int, default=20, help="deep $skip: $top of each page (eodag's default)")
    parser.add_argument("--skip-orderby", default="ContentDate/Start asc", help="deep $skip: $orderby (eodag's default)")
    parser.add_argument("--skip-repeats", type=int, default=30, help="deep $skip: interleaved rounds after the walk")
    parser.add_argument("--skip-workers", type=int, default=2,
                        help="deep $skip: also walk on gunicorn with this many worker processes (0: waitress only)")
    parser.add_argument("--migrate", action="store_true",
                        help="upgrade a kept catalogue (--data-dir) at an older schema instead of refusing it")
    parser.add_argument("--data-dir", help="keep the PostgreSQL cluster and its loaded catalogue in this folder and "
                        "reuse it when it is already there (same --products and --seed)")
    args = parser.parse_args(argv)

    from sqlalchemy.engine import make_url

    def _terminate(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, _terminate)

    server = cat._make_server(args.data_dir)
    app = None
    workdir = tempfile.mkdtemp(prefix="proseo-bench-http-")
    try:
        cat.log("starting PostgreSQL")
        server.start()
        with cat._admin(server.url) as conn:
            pg_version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]

        from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

        kept = cat.kept_database(server, args.products, args.seed)
        if kept is not None:
            name = kept["database"]
            url = make_url(server.url).set(database=name).render_as_string(hide_password=False)
            storage = SQLAlchemyStorage.from_url(url)
            if storage.schema_revision() != storage.schema_head():
                if not args.migrate:
                    raise SystemExit(f"the kept catalogue in {server.tmpdir} is at schema {storage.schema_revision()}, "
                                     f"the code at {storage.schema_head()}: --migrate upgrades it, or remove "
                                     "the folder to reload")
                cat.log(f"migrating the kept catalogue from {storage.schema_revision()} to {storage.schema_head()}")
                storage.initialize_schema()
                cat.finish_load(url, own_server=True)  # VACUUM ANALYZE what the migration changed
            timings = dict(kept["timings"], generator=cat.Generator(args.seed), loaded=kept["loaded"])
            cat.log(f"reusing {args.products:,} products loaded {kept['loaded']} in {server.tmpdir}")
        else:
            name, url = cat.create_database(server.url)
            storage = SQLAlchemyStorage.from_url(url)
            storage.initialize_schema()
            if not storage.tables.postgis:
                raise SystemExit("the server has no PostGIS: install postgresql-15-postgis-3")
            cat.log(f"schema at {storage.schema_revision()}; loading {args.products:,} products")
            timings = cat.load(url, args.products, args.seed)
            timings["analyze_s"] = cat.finish_load(url, own_server=True)
            storage.close()
            storage = SQLAlchemyStorage.from_url(url)
            cat.verify_samples(storage, timings["samples"])
            if args.data_dir:
                cat.keep_database(server, args.products, args.seed, name, timings)
        add_users(storage)

        cat.log("starting the application server")
        app, port = start_app(url, args.server_threads, workdir)
        client = Client(port)
        tokens = {v: token(client, user) for v, (user, _) in USERS.items()}
        queries = shapes(args.products, args.variants, args.seed, timings["generator"].tiles)
        if args.shapes:
            chosen = tuple(args.shapes.split(","))  # "none" matches no shape
            queries = {key: shape for key, shape in queries.items() if key.startswith(chosen)}
        reference = SqlReference(storage, url)
        info = cat.machine()
        info["pg"] = pg_version
        cat.log(f"latencies: {len(queries)} shapes x {args.variants} variants, HTTP and SQL interleaved")
        lat = latencies(client, tokens, reference, queries)
        loads = {}
        for key, (_, visibility, pairs) in queries.items():
            loads[key] = measured_load(app.pid, server.datadir, port, tokens, [(visibility, p) for p in pairs],
                                       args.clients, requests=args.load_requests)
            cat.log(f"load {key}: {loads[key]['done'] / loads[key]['wall']:.1f} requests/s")
        mixed_work = [(v, p) for _, v, ps in queries.values() for p in ps]
        random.Random(args.seed).shuffle(mixed_work)
        mixed = measured_load(app.pid, server.datadir, port, tokens, mixed_work, args.clients,
                              seconds=args.load_seconds) if mixed_work else None
        walks = []
        if args.skip_pages:
            walks.append(deep_skip("waitress", app, port, tokens, reference, server.datadir, args))
            if args.skip_workers:
                from bench.downloads import stop_server

                gunicorn, gport = start_gunicorn(workdir, args.skip_workers)
                try:
                    walks.append(deep_skip("gunicorn", gunicorn, gport, tokens, reference, server.datadir, args))
                finally:
                    stop_server(gunicorn)
        info["load_end"] = os.getloadavg()
        text = report(args, info, timings, queries, lat, loads, mixed) + (skip_report(args, walks) if walks else "")
        print(text)
        os.makedirs(cat.RESULTS, exist_ok=True)
        part = "_" + args.shapes.replace(",", "_") if args.shapes else ""  # a subset: its own file
        with open(os.path.join(cat.RESULTS, f"http_catalogue_{args.products}{part}.md"), "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        if args.explain:
            os.makedirs(cat.RESULTS, exist_ok=True)
            for key, (description, visibility, pairs) in queries.items():
                t = lat[key]["http"]
                worst = max(range(len(t)), key=t.__getitem__)
                reference.runner.visibilities = reference.visible[visibility]
                path = os.path.join(cat.RESULTS, f"http_{args.products}_{key}.txt")
                cat.explain(storage, reference.runner, pairs[worst], path,
                            f"{key} ({visibility}): {description}\n{args.products:,} products; slowest of {len(t)} "
                            f"variants through HTTP ({t[worst]:.1f} ms); {dt.datetime.now(cat.UTC):%Y-%m-%d %H:%M} UTC")
        reference.conn.close()
        storage.close()
        return 0
    finally:
        if app is not None:
            app.terminate()
            try:
                app.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.kill()
        cat.log("stopping PostgreSQL" + (f", keeping {server.tmpdir}" if args.data_dir else ", removing its data directory"))
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
