# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= development.ini
# Port of the server (`make run PORT=7000`); empty: the .ini's listen address.
PORT ?=
# eodag, CDSETool, sentineleof, phidown, cdsodatacli, python-odata and aria2c for tests/clients: their own
# venv, their own pinned dependencies.
CLIENTS_VENV ?= .venv-clients
# What installs into the venvs: uv (pinned; pip puts it into $(VENV)), twice pip's speed on a
# fresh machine (both venvs: 50 s against 107 s), compiling the bytecode as pip does (without it
# every process compiles its imports again where PYTHONDONTWRITEBYTECODE is set: a fresh clone's
# suite took 852 s instead of 700). INSTALLER=pip: pip alone, e.g. where only pip is configured for a
# package mirror (uv reads UV_INDEX_URL, not pip's configuration).
INSTALLER ?= uv
UV_VERSION := 0.13.9
# $(call install,PYTHON,ARGUMENTS): install into PYTHON's venv.
ifeq ($(INSTALLER),uv)
install = $(BIN)/uv pip install --quiet --compile-bytecode --python $(1) $(2) || { \
	echo "uv could not install (a package mirror or a TLS proxy set up for pip only? uv reads UV_INDEX_URL and" \
	     "UV_SYSTEM_CERTS=1, or run make with INSTALLER=pip)" >&2; exit 1; }
# (the version in the name: a new UV_VERSION installs it; order-only below, so that a new uv
# re-installs neither venv)
INSTALL_TOOL := $(VENV)/.uv-$(UV_VERSION)
else
install = $(1) -m pip install --quiet --disable-pip-version-check $(2)
INSTALL_TOOL := $(BIN)/python
endif

.PHONY: run test system-deps clients bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(VENV)/.uv-$(UV_VERSION): $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	touch $@

# Re-install when the packaging changes. (The extras in variables: commas would split a $(call).)
RUN_EXTRAS := .[web,postgresql,s3]
TEST_EXTRAS := .[test,postgresql,s3]
$(VENV)/.stamp-run: setup.py | $(INSTALL_TOOL)
	$(call install,$(BIN)/python,-e '$(RUN_EXTRAS)')
	touch $@

$(VENV)/.stamp-test: setup.py | $(INSTALL_TOOL)
	$(call install,$(BIN)/python,-e '$(TEST_EXTRAS)')
	touch $@

$(CLIENTS_VENV)/.stamp: tests/clients/requirements.txt | $(INSTALL_TOOL)
	rm -rf $(CLIENTS_VENV)
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(call install,$(CLIENTS_VENV)/bin/python,-r tests/clients/requirements.txt)
	touch $@

clients: $(CLIENTS_VENV)/.stamp

# PostGIS for the PostgreSQL server the tests start (exact OData.CSC.Intersects in SQL).
# Installed from Debian's packages when missing and we may install; otherwise the tests say so.
system-deps:
	@if [ ! -f /usr/share/postgresql/15/extension/postgis.control ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing PostGIS for PostgreSQL 15"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3 >/dev/null) || echo "PostGIS install failed"; \
	fi

# initdb creates var/ and the archive folder itself; PROSEO_PORT is read by the .ini's server
# runner (proseo_odata_web/server.py).
run: $(VENV)/.stamp-run
	$(BIN)/proseo-odata -c $(CONFIG) initdb
	$(BIN)/proseo-odata -c $(CONFIG) demo-data
	PROSEO_PORT=$(PORT) $(BIN)/pserve $(CONFIG)

# pytest-xdist workers of `make test` (one PostgreSQL server for all; a test file stays on one
# worker, so its module fixtures are built once); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(VENV)/.stamp-test $(CLIENTS_VENV)/.stamp system-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Issue 12's rows at BENCH_PRODUCTS products (bench/README.md), meant to take under 10 minutes on
# 2 idle cores: bulk ingest by reference on SQLite and a throwaway PostgreSQL (twice: a new
# cluster's first run, then one on the server that has written, with the raw COPY reference);
# catalogue queries through HTTP against raw SQL, with eodag's deep $skip walk;
# order submissions and submit -> completed. Separate commands (bench/README.md): the query-core micro-benchmark
# (`python -m bench`), copy-mode ingest, downloads against nginx, the 1M runs.
BENCH_PRODUCTS ?= 100000
bench: $(VENV)/.stamp-test
	$(BIN)/python -m bench.ingest --products $(BENCH_PRODUCTS) --mode reference --runs 2
	$(BIN)/python -m bench.http_catalogue --products $(BENCH_PRODUCTS) --load-requests 80 --load-seconds 15
	$(BIN)/python -m bench.orders submit --clients 8 --seconds 15 --servers 1
	$(BIN)/python -m bench.orders latency --orders 20

# Fault scenarios with real processes on PostgreSQL (a few minutes; not part of `make test`):
# docs/reliability.md. SOAK_ARGS="--orders 300 --seconds 90" for a longer run.
soak: $(VENV)/.stamp-test
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(CLIENTS_VENV) var build dist *.egg-info .node
