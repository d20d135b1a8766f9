# Two commands set everything up on a fresh machine:
#   make run    the app on SQLite with sample data, at http://127.0.0.1:5000
#   make test   every test, on SQLite and PostgreSQL
#   make bench  the performance benchmark (bench/README.md), one JSON line per figure
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PYBABEL := $(VENV)/bin/pybabel
HOST ?= 127.0.0.1
PORT ?= 5000

# The message catalogs (README, "Languages"): the .po files are the source, the
# compiled .mo files are built here and never committed.
TRANSLATIONS := library/translations
CATALOGS := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test lint format serve bench install translations messages
.DEFAULT_GOAL := run

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Installing means the dependencies and the compiled catalogs.
install: $(VENV)/.installed $(COMPILED)

translations: $(COMPILED)

%/LC_MESSAGES/messages.mo: %/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(PYBABEL) compile --statistics -i $< -o $@

# After changing strings: extract them all, and add the new ones to every catalog
# (translate them there, then `make translations`; tests/test_i18n.py fails until then).
messages: $(VENV)/.installed
	$(PYBABEL) extract -F babel.cfg --sort-output --add-location=file --project=library \
		-o $(TRANSLATIONS)/messages.pot .
	$(PYBABEL) update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --ignore-obsolete
	$(PY) scripts/fill-english-catalog.py

run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	@echo "Library is at http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/docs)"
	$(FLASK) run --host $(HOST) --port $(PORT)

serve: install
	$(FLASK) db upgrade
	$(VENV)/bin/gunicorn --workers 4 --bind $(HOST):$(PORT) wsgi:app

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Needs PostgreSQL at BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres,
# where it makes bench_* databases) and wrk, the load generator (Debian's package,
# installed here when missing). Options: BENCH_ARGS="--with-1m" (search at 1,000,000 books too),
# BENCH_ROUNDS, BENCH_SECONDS, BENCH_WORKERS (see bench/README.md).
bench: install
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } \
	  || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(PY) -m bench.run $(BENCH_ARGS)
