# The README's two set-up commands: `make demo` and `make test`. Each installs everything
# (Debian packages, a venv, the pinned CPU torch first, then echovox) and then runs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch first and pinned: an unpinned torch (or one pulled in by a dependency) is a multi-GB
# CUDA build. Later installs see it satisfied and leave it alone.
TORCH := torch==2.13.0
EXTRAS ?= dev,eval,browser

.PHONY: install system-deps demo test lint format clean

system-deps:
	bash tools/install_system_deps.sh --mbrola

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(BIN)/python | system-deps
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: system-deps $(VENV)/.installed

demo: install
	@echo "echovox: the embedded default model is not trained yet (see the issue that ships it);"
	@echo "the main job shows the text front end instead: normalised words and phonemes."
	$(BIN)/echovox phonemize "Dr. Smith paid \$$3.50 on Jan. 5th, at 7 p.m."

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
