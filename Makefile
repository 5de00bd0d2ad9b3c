# pg_session_jwt: a PGXS Makefile, plus the project's own targets.
#
#   make demo      install what is missing, build, install, run the RLS demo
#   make test      the same set-up, then the whole test suite
#   make install   (PGXS) install into the server that $(PG_CONFIG) names
#
# The PGXS part needs pg_config; `demo` and `test` install PostgreSQL first
# and then re-run make with the right PG_CONFIG.

EXTENSION  = pg_session_jwt
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
# The install script, and an update script for each sql/pg_session_jwt--FROM--TO.sql.in.
UPDATES    = $(patsubst %.sql.in,%.sql,$(wildcard sql/$(EXTENSION)--*--*.sql.in))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPDATES)

# pg_regress suite in test/ (make installcheck, against a running server).
REGRESS      = pg_session_jwt
REGRESS_OPTS = --inputdir=test

PYTHON    ?= python3
PG_CONFIG ?= pg_config
PGXS      := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(PGXS),)
include $(PGXS)
else
all: $(DATA_built)
install:
	@echo "pg_config not found: install PostgreSQL's server dev package, or run make demo / make test" >&2; exit 1
endif

SERVER_SOURCES = $(wildcard src/$(EXTENSION)/*.py) sql/plpython.sql.in tools/build_sql.py

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql.in $(SERVER_SOURCES)
	$(PYTHON) tools/build_sql.py --out $@

$(UPDATES): sql/%.sql: sql/%.sql.in $(SERVER_SOURCES)
	$(PYTHON) tools/build_sql.py --template $< --version $(lastword $(subst --, ,$*)) --out $@

# --- project targets ----------------------------------------------------------
VENV_PY = .venv/bin/python
SETUP   = PG_BIN=$$(tools/bootstrap) && $(MAKE) --no-print-directory install PG_CONFIG=$$PG_BIN/pg_config >/dev/null && export PG_BIN

.PHONY: demo test unit
demo:
	@$(SETUP) && $(VENV_PY) -m pg_session_jwt.demo

test:
	@$(SETUP) && $(VENV_PY) -m pytest $(PYTEST_ARGS)

# The pure core alone: no server, no root.
unit:
	$(VENV_PY) -m pytest tests/unit $(PYTEST_ARGS)
