# Two commands set everything up on a fresh machine (see README.md):
#   make demo   install into .venv and train examples/minimal.toml
#   make test   install into .venv and run the test suite
# torch is pinned by constraints.txt to the CPU build (other releases pull several GB of CUDA packages).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := plugins/mrframe-osint plugins/mrframe-han plugins/mrframe-objectives plugins/mrframe-example plugins/mrframe-tensorboard plugins/mrframe-mlflow
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,tune,export]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

# one intra-op thread: the demo's small model trains many times faster than with torch's default on 2 busy cores
demo: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/mrframe run examples/minimal.toml

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .tox runs .pytest_cache
