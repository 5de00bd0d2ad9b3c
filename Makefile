# pg_session_jwt: a PGXS Makefile, plus the project's own targets.
#
#   make demo      install what is missing, build, install, run the RLS demo
#   make test      the same set-up, then the whole test suite
#   make bench     the same set-up, then every benchmark: bench/results.md and .png
#                  (make bench BENCH_ARGS=--quick: tiny sizes, a smoke run)
#   make fuzz      fuzz the parsers for FUZZ_SECONDS (make fuzz-smoke: 20 s)
#   make install   (PGXS) install into the server that $(PG_CONFIG) names
#   make test-matrix   make test in a fresh Debian root per suite (as root):
#                  bookworm (PG 15), trixie (17), sid (18); SUITES="trixie sid"
#
# The PGXS part needs pg_config; `demo` and `test` install PostgreSQL first
# and then re-run make with the right PG_CONFIG.

EXTENSION  = pg_session_jwt
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
# The install script, an update script for each sql/pg_session_jwt--FROM--TO.sql.in,
# and the code file they load (the compiled server modules), read from where
# PGXS installs them.
UPDATES    = $(patsubst %.sql.in,%.sql,$(wildcard sql/$(EXTENSION)--*--*.sql.in))
CODE       = sql/$(EXTENSION)--$(EXTVERSION).marshal
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPDATES) $(CODE)

# pg_regress suite in test/ (make installcheck, against a running server).
REGRESS      = pg_session_jwt
REGRESS_OPTS = --inputdir=test

PYTHON    ?= python3
PG_CONFIG ?= pg_config
PGXS      := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(PGXS),)
include $(PGXS)
else
all install:
	@echo "pg_config not found: install PostgreSQL's server dev package, or run make demo / make test" >&2; exit 1
endif

SERVER_SOURCES = $(wildcard src/$(EXTENSION)/*.py) sql/plpython.sql.in tools/build_sql.py

CODE_DIR = $(datadir)/$(datamoduledir)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql.in $(SERVER_SOURCES)
	$(PYTHON) tools/build_sql.py --code-dir '$(CODE_DIR)' --out $@

$(UPDATES): sql/%.sql: sql/%.sql.in $(SERVER_SOURCES)
	$(PYTHON) tools/build_sql.py --template $< --version $(lastword $(subst --, ,$*)) --code-dir '$(CODE_DIR)' --out $@

$(CODE): $(SERVER_SOURCES)
	$(PYTHON) tools/build_sql.py --code-out $@

# --- project targets ----------------------------------------------------------
VENV_PY = .venv/bin/python
SETUP   = PG_BIN=$$(tools/bootstrap) && $(MAKE) --no-print-directory install PG_CONFIG=$$PG_BIN/pg_config >/dev/null && export PG_BIN

.PHONY: demo test unit bench
demo:
	@$(SETUP) && $(VENV_PY) -m pg_session_jwt.demo

test:
	@$(SETUP) && $(VENV_PY) -m pytest $(PYTEST_ARGS)

bench:
	@$(SETUP) && $(VENV_PY) bench/run.py $(BENCH_ARGS)

# --- fuzzing: atheris over the pure core's parsers (see fuzz/fuzz_parsers.py) ---
FUZZ_SECONDS ?= 600
FUZZ_OUT     ?= fuzz/out
FUZZ          = $(VENV_PY) fuzz/fuzz_parsers.py -dict=fuzz/jwt.dict -timeout=10 -artifact_prefix=$(FUZZ_OUT)/

.PHONY: fuzz fuzz-smoke
# Long run; grows $(FUZZ_OUT)/corpus (kept for the next run), only reads the seeds in fuzz/corpus.
# (make test runs a bounded smoke run through tests/unit/test_fuzz_smoke.py.)
fuzz:
	@mkdir -p $(FUZZ_OUT)/corpus
	$(FUZZ) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OUT)/corpus fuzz/corpus

fuzz-smoke:
	@rm -rf $(FUZZ_OUT)/smoke && mkdir -p $(FUZZ_OUT)/smoke
	$(FUZZ) -runs=20000 -max_total_time=20 $(FUZZ_OUT)/smoke fuzz/corpus

# --- make test on each Debian suite that ships a PostgreSQL (tools/matrix.py) ---
SUITES ?= bookworm trixie sid

.PHONY: test-matrix
# exec: a signal to make's child reaches the script, which unmounts before it exits
test-matrix:
	@PYTEST_ARGS='$(PYTEST_ARGS)' exec python3 tools/matrix.py $(SUITES)

# The pure core alone: no server, no root.
unit:
	$(VENV_PY) -m pytest tests/unit $(PYTEST_ARGS)
