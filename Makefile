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

# The main job: clone the bundled prompt's voice (a synthetic speaker held out from training)
# with the embedded echovox-tiny model, offline. Prints the wav's path, duration and RTF, then
# what Whisper base hears in it.
# Two threads: on an idle 2-core CPU the AR's float16 decode runs faster with two than with
# one; on a busy machine, --threads 1 can be faster. On a CPU with bfloat16 instructions the
# NAR and the codec decoder run in bfloat16 (`--bf16`, on by default there).
DEMO_TEXT ?= The quick brown fox jumps over the lazy dog, and then it takes a nap.
DEMO_OUT ?= exp/demo/echovox-tiny-demo.wav

demo: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False \
	$(BIN)/echovox synthesize --text "$(DEMO_TEXT)" \
		--prompt app/assets/example_prompt.wav \
		--prompt_text "$$(cat app/assets/example_prompt.txt)" \
		--seed 0 --threads 2 -o $(DEMO_OUT)
	@echo "what Whisper base hears in it (the sentence was: $(DEMO_TEXT))"
	HF_HUB_OFFLINE=1 $(BIN)/echovox transcribe $(DEMO_OUT) --threads 2

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
