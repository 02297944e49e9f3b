# One-command set-up: a virtual environment with the CPU build of torch, then the project.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= configs/default.yaml

.PHONY: setup setup-test train test clean

$(BIN)/civic-ner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# CPU torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

setup: $(BIN)/civic-ner

# Tests also need the optional extras: a real Label Studio server, the ML backend's server, matplotlib, Ray Data.
$(VENV)/.test-extras: $(BIN)/civic-ner pyproject.toml
	$(BIN)/python -m pip install -e ".[dev,labelstudio,serve,curve,scale]"
	touch $@

setup-test: $(VENV)/.test-extras

RUN := runs/$(basename $(notdir $(CONFIG)))

# Train, write the serving copy (trimmed vocabulary, encoder in ONNX Runtime: loads in ~2 s instead of ~7 s),
# then score the trained model on both held-out tests.
train: setup
	$(BIN)/python train.py --config $(CONFIG) --output-dir $(RUN)
	$(BIN)/civic-ner trim --model $(RUN)/model -o $(RUN)/model-serve --onnx
	$(BIN)/python evaluate.py --model $(RUN)/model

test: setup-test
	$(BIN)/python -m pytest

clean:
	rm -rf runs .pytest_cache
