# gridmap: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
HOST ?= 127.0.0.1
PORT ?= 8000
# Worker processes for `make run` (one per core serves the most; each keeps its own routing index).
WORKERS ?= 1
# pytest workers for `make test`: one per core, at most four (each worker makes its own databases and browser).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n > 4 ? 4 : n )))
VENV := .venv
GRIDMAP := $(VENV)/bin/gridmap
# With DATABASE_URL set, everything runs against that server and no local cluster is started.
export HOST PORT
LOCAL_DB := $(if $(DATABASE_URL)$(GRIDMAP_DATABASE_URL),,yes)

.PHONY: help setup db run test bench soak stop lint interop

help:
	@echo "make run    install what is missing, start PostGIS, migrate, load the sample, serve on http://$(HOST):$(PORT)"
	@echo "make test   the same set-up, then the whole test suite against a separate test database"
	@echo "make bench  benchmarks; figures go to bench/results.json"
	@echo "make soak   intake under load and faults (10,000 reports, PostgreSQL stop, app kill); figures in bench/results.json"
	@echo "make stop   stop the project-local PostgreSQL cluster"
	@echo "make interop  headless QGIS (Debian python3-qgis, installed by this target) opens /ogc's grids as an OAPIF layer"

setup:
	@scripts/setup.sh

db: setup
	@$(if $(LOCAL_DB),scripts/pg.sh start,true)
	@$(GRIDMAP) db upgrade
	@$(GRIDMAP) sample load --if-empty
	@$(GRIDMAP) keys ensure-local

run: db
	@echo "Serving gridmap on http://$(HOST):$(PORT)  (Ctrl-C to stop; 'make stop' stops PostgreSQL)"
	@exec $(VENV)/bin/uvicorn api.main:app --host $(HOST) --port $(PORT) --workers $(WORKERS) --no-access-log

test:
	@scripts/setup.sh --test
	@$(if $(LOCAL_DB),scripts/pg.sh start,true)
	$(VENV)/bin/ruff check .
	@# Everything that can share the machine runs on TEST_WORKERS processes; the tests that stop PostgreSQL
	@# or kill the app (marker `exclusive`) run alone afterwards, so they never fail a neighbour's request.
	$(VENV)/bin/pytest -n $(TEST_WORKERS) -m "not exclusive"
	$(VENV)/bin/pytest -m exclusive

bench:
	@scripts/setup.sh --bench
	@# tipg, the baseline of bench/tipg.py, in its own .venv-tipg (its pins are not ours); without it that bench skips
	@bench/tipg_env.sh || echo "tipg could not be installed: bench/tipg.py will skip (see above)"
	@$(if $(LOCAL_DB),scripts/pg.sh start,true)
	$(VENV)/bin/python -m bench.run

# Long forms of the robustness checks (issue 9). The soak stops and starts only this checkout's cluster
# (GRIDMAP_PG_PORT, .data/pg); with DATABASE_URL set that fault is skipped and the figures say so.
soak:
	@scripts/setup.sh --bench
	@$(if $(LOCAL_DB),scripts/pg.sh start,true)
	$(VENV)/bin/python -m bench.soak --reports 10000 --concurrency 64 --keys 4 --pg-down 5 --app-kills 1
	@# The long API fuzz profile (issue 9 part A, fuzz worktree): figures in bench/fuzz-results.json.
	@if [ -f tests/api/test_fuzz.py ]; then \
	  GRIDMAP_FUZZ_PROFILE=long GRIDMAP_FUZZ_RESULTS=bench/fuzz-results.json $(VENV)/bin/pytest tests/api/test_fuzz.py -q -p no:cacheprovider; \
	else echo "fuzz: tests/api/test_fuzz.py is not in this checkout yet; long fuzz profile skipped"; fi

stop:
	@scripts/pg.sh stop

# OGC API interoperability with QGIS itself (issue 23): too heavy (~170 Debian packages) for every `make test`.
interop: db
	@scripts/interop.sh

lint:
	$(VENV)/bin/ruff check .
