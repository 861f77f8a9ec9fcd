.PHONY: quickstart test lint bench bench-smoke
PY ?= python3

quickstart:  ## run the main job (twice: the second run resumes the first)
	bash scripts/quickstart.sh

test:  ## the whole test suite (installs what it needs)
	bash scripts/test.sh

lint:
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

bench:  ## full benchmark against peers (local, ~20 min)
	$(PY) -m benchmarks.run --profile full

bench-smoke:
	$(PY) -m benchmarks.run --profile smoke
