PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/autosubs demo

test: $(VENV)/.installed
	$(BIN)/ruff check handler tests bench
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check handler tests bench
	$(BIN)/ruff format --check handler tests bench

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/gcore_calls.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
