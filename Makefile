.PHONY: quickstart test test-lowest lint bench bench-smoke dist
SHELL := /bin/bash

# Python: `make ... PY=/path/to/python` (used as it is inside a virtual environment, else as the
# base of .venv), else the active virtual environment, else a project-local .venv created and
# reused by scripts/setup-test-env.sh. The system interpreter's packages are never touched.
ifdef PY
export PY
endif
ENV = . scripts/setup-test-env.sh

quickstart:  ## run the main job (twice: the second run resumes the first)
	@$(ENV) quickstart && "$$PY" examples/quickstart.py

dist:  ## the wheel (dist/checkpoint_kv-<version>-py3-none-any.whl) the examples install
	@$(ENV) quickstart && rm -rf build && "$$PY" -m pip wheel -q --no-deps --wheel-dir dist . && ls dist/*.whl

test:  ## the whole test suite (installs what it needs)
	bash scripts/test.sh

test-lowest:  ## conformance + scenarios with every dependency at its declared floor (.venv-lowest)
	bash scripts/test-lowest.sh

lint:
	@$(ENV) test && "$$PY" -m ruff check . && "$$PY" -m ruff format --check . && "$$PY" -m mypy

bench:  ## full benchmark against peers (local, ~20 min)
	@$(ENV) test && "$$PY" -m benchmarks.run --profile full

bench-smoke:
	@$(ENV) test && "$$PY" -m benchmarks.run --profile smoke
