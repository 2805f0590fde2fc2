# The two commands a newcomer needs: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-chatbot screenshots clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/storyline serve --demo

# Four xdist workers, a test file each at a time: the suite mostly waits (on servers,
# processes, the database), so twice the cores wins on 2 cores; measured in DEVELOPERS.md.
TEST_WORKERS ?= 4

# The suite starts hundreds of Python processes: with PYTHONDONTWRITEBYTECODE set (as some machines have
# it) each compiled storyline's sources again, a third of a `serve`'s start. Empty, it lets them cache.

# Browser tests (tests/browser/) drive Debian's Chromium; install it when missing and apt-get can.
CHROMIUM := /usr/bin/chromium

test: $(STAMP)
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
	  || echo "chromium could not be installed: the browser tests will be skipped"; fi
	$(VENV)/bin/ruff check src tests bench docs
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench docs
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(STAMP)
	bash bench/run.sh storyline

bench-chatbot: $(STAMP)
	$(PY) bench/chatbot.py

# The README's pictures of the console (docs/img/*.png), drawn in Chromium from a real `serve --demo`.
screenshots: $(STAMP)
	$(PY) docs/screenshots.py

clean:
	rm -rf $(VENV) storyline.db storyline.db-* .pytest_cache
