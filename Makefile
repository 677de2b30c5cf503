# The two commands that matter: `make demo` and `make test` (both work on a fresh machine).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

export PATH := $(BIN):$(PATH)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PARALLELISM := 4

.PHONY: venv demo airflow test bench registry-check dag-files clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

$(AIRFLOW_HOME)/.migrated: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	ledgerbridge-airflow setup
	touch $@

## make demo: install, migrate, seed the demo legal entities of the registry and sync each into its sandbox books
demo: $(STAMP) $(AIRFLOW_HOME)/.migrated
	ledgerbridge demo

## make airflow: the same demo under `airflow standalone`, UI on http://localhost:8080
airflow: $(STAMP) $(AIRFLOW_HOME)/.migrated
	ledgerbridge demo --airflow

## make test: install and run the whole suite (PostgreSQL tests skip when 127.0.0.1:5432 does not answer)
test: $(STAMP)
	pytest

## make bench: the benchmarks (never part of the tests; shared_limits.py needs Redis on 127.0.0.1:6379)
bench: $(STAMP)
	python bench/dag_parse.py; python bench/matching.py; python bench/qbo_export.py; python bench/erp_sync.py; python bench/file_drop.py; python bench/data_quality.py; python bench/ui_pages.py; python bench/shared_limits.py

registry-check: $(STAMP)
	ledgerbridge registry check

## make dag-files: rewrite dags/ledgerbridge_sync_<i>_of_<N>.py, N = LEDGERBRIDGE_DAG_SHARDS (default 16; docs/operations.md)
dag-files: $(STAMP)
	ledgerbridge-airflow dag-files --dags-folder dags

clean:
	rm -rf $(VENV) .airflow data .pytest_cache
