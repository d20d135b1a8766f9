# Two commands set everything up on a fresh machine:
#   make run    the app on SQLite with sample data, at http://127.0.0.1:5000
#   make test   every test, on SQLite and PostgreSQL
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint format serve
.DEFAULT_GOAL := run

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(FLASK) db upgrade
	$(FLASK) demo seed
	@echo "Library is at http://$(HOST):$(PORT)/  (API docs: http://$(HOST):$(PORT)/api/docs)"
	$(FLASK) run --host $(HOST) --port $(PORT)

serve: $(VENV)/.installed
	$(FLASK) db upgrade
	$(VENV)/bin/gunicorn --workers 4 --bind $(HOST):$(PORT) wsgi:app

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
