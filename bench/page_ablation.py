"""Which parts of the application's web layer cost a PRIP page its time through HTTP (issue 12,
the cheap shapes row): ``bench.page_bound``'s *bound* server (the application, its storage call
replaced by a replay of the statements) started several times, each with some of its web
layer's parts replaced by stubs, side by side with the Cornice floor and the raw SQL.

Run (from the repository root), on a catalogue kept by ``bench.catalogue``/``bench.profile_page``::

    .venv/bin/python -m bench.page_ablation --url URL --products 1000000 --shapes top100,date \\
        --servers "bound=;bound2=;auth+options=auth,options;pool=pool;all=auth,options,pool,metrics"

``--servers``: ``label=parts`` separated by ``;``; parts (comma-separated, see :data:`PARTS`):

* ``auth``: ``require_role`` answers each ``Authorization`` header's principal from a dict;
* ``options``: ``collection_query`` answers each query string's reading from a dict;
* ``pool``: ``read_only`` checks out no connection (the replay needs none);
* ``pool-raw``: ``read_only`` checks a DBAPI connection out of the pool and back in
  (``Engine.raw_connection``), no SQLAlchemy ``Connection``, no bound storage;
* ``pool-nobind``: ``read_only`` checks a ``Connection`` out and closes it, no bound storage;
* ``pool-engine``: ``read_only`` checks a ``Connection`` out of an engine of its own created in
  autocommit (its connections are not switched to autocommit and back at each check-out);
* ``metrics``: no metrics tween;
* ``served``: the real storage call (not the replay): the application as it serves;
* ``gc``: after start-up the collector's objects frozen (``gc.freeze``) and its young
  generation collected after 20,000 allocations instead of 700.

Give one server twice with no parts (``bound=;bound2=``): their difference is the run's noise
(0.03-0.13 ms at 1M on two cores, the order turning at each request: ``page_bound.medians``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from bench import catalogue as cat
from bench import http_catalogue as hc
from bench import page_bound as pb

#: The names each part replaces, as (module, attribute): a test checks they still exist.
PARTS = {
    "auth": ("proseo_odata_web.prip.products", "require_role"),
    "options": ("proseo_odata_web.prip.products", "collection_query"),
    "pool": ("proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.read_only"),
    "pool-raw": ("proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.read_only"),
    "pool-nobind": ("proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.read_only"),
    "pool-engine": ("proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.read_only"),
    "metrics": ("proseo_odata_web.operations", "metrics_tween_factory"),
    "served": ("proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.query_product_texts"),
    "gc": ("gc", "freeze"),
}

#: The bound server, with the parts named by the environment's PAGE_ABLATION stubbed out.
SERVE_ABLATED = pb.SERVE_BOUND.replace("SQLAlchemyStorage.query_product_texts = replay\n", '''\
import os
from proseo_odata_web import operations as _operations
from proseo_odata_web.prip import products as _products

_parts = set(filter(None, os.environ.get("PAGE_ABLATION", "").split(",")))
if "served" not in _parts:
    SQLAlchemyStorage.query_product_texts = replay

def _memo(function, key):
    answers = {}

    def memoised(request, *args, **kwargs):
        k = key(request)
        if k not in answers:
            answers[k] = function(request, *args, **kwargs)
        return answers[k]
    return memoised

if "auth" in _parts:
    _products.require_role = _memo(_products.require_role, lambda request: request.headers.get("Authorization"))
if "options" in _parts:
    _products.collection_query = _memo(_products.collection_query, lambda request: request.query_string)
if "pool" in _parts:
    SQLAlchemyStorage.read_only = lambda self: (self, lambda: None)
if "pool-raw" in _parts:  # the pool's check-out and check-in without a Connection
    def _raw(self):
        raw = self.read_engine.raw_connection()
        return self, raw.close
    SQLAlchemyStorage.read_only = _raw
if "pool-nobind" in _parts:  # a Connection checked out and closed, no bound storage made
    def _nobind(self):
        connection = self.read_engine.connect()
        return self, connection.close
    SQLAlchemyStorage.read_only = _nobind
if "pool-engine" in _parts:  # an engine of its own whose connections stay in autocommit
    import sqlalchemy as _sa
    _engines = {}
    def _own_engine(self):
        engine = _engines.get(id(self))
        if engine is None:
            engine = _engines[id(self)] = _sa.create_engine(
                self.engine.url, isolation_level="AUTOCOMMIT", pool_use_lifo=True,
                connect_args={"options": "-c timezone=UTC -c plan_cache_mode=force_custom_plan"})
        connection = engine.connect()
        return self.bind(connection), connection.close
    SQLAlchemyStorage.read_only = _own_engine
if "metrics" in _parts:
    _operations.metrics_tween_factory = lambda handler, registry: handler
''', 1).replace("waitress.serve(get_app(sys.argv[1]),", '''\
_app = get_app(sys.argv[1])
if "gc" in _parts:  # what the start-up made kept out of the collector's walks; young runs rarer
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 50, 100)
waitress.serve(_app,''', 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.page_ablation", description=__doc__.split("\n\n")[0])
    pb.add_common_arguments(parser, "top100,date")
    parser.add_argument("--servers", default="bound=;bound2=;auth+options=auth,options;pool=pool;"
                                             "all=auth,options,pool,metrics")
    args = parser.parse_args(argv)
    servers = [spec.split("=", 1) for spec in args.servers.split(";")]
    for label, parts in servers:
        unknown = set(filter(None, parts.split(","))) - set(PARTS)
        if unknown:
            parser.error(f"{label}: unknown parts {', '.join(sorted(unknown))} (known: {', '.join(PARTS)})")

    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(args.url)
    reference = hc.SqlReference(storage, args.url)
    queries = hc.shapes(args.products, args.variants, args.seed, cat.Generator(args.seed).tiles)
    names = args.shapes.split(",")
    statements, captured, bare_captured = pb.capture(reference, queries, names)
    workdir = tempfile.mkdtemp(prefix="page-ablation-")
    os.makedirs(os.path.join(workdir, "archive"))
    served, served_port = hc.start_app(args.url, args.threads, workdir)  # writes bench.ini; gives the token
    processes, clients = [served], {}
    try:
        token = hc.token(hc.Client(served_port), "reader")
        for label, parts in servers:
            os.environ["PAGE_ABLATION"] = parts
            process, port = pb.start_bound(args.url, workdir, captured, args.threads, SERVE_ABLATED, label)
            processes.append(process)
            clients[label] = hc.Client(port)
        process, port = pb.start_bound(args.url, workdir, bare_captured, args.threads, pb.SERVE_CORNICE, "cornice")
        processes.append(process)
        clients["cornice"] = hc.Client(port)
        served.terminate()  # not in the interleaving
        labels = [*clients, "sql"]
        print("| shape | " + " | ".join(f"{label} ms" for label in labels) + f" |  (load average {os.getloadavg()[0]:.1f})")
        print("|---|" + "---:|" * len(labels))
        for name in names:
            _, visibility, variants = queries[name]
            med = pb.medians(clients, reference, statements, variants, token, args.rounds)
            print(f"| `{name}` | " + " | ".join(f"{med[label]:.2f}" for label in labels) + " |", flush=True)
    finally:
        for process in processes:
            process.terminate()
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
