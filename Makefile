# haowurank: the two commands are `make demo` and `make test` (`make test-fast` for everyday work).
comma := ,
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
EXTRAS ?= dev,app,notebooks,spark,peers
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-8)-$(subst $(comma),_,$(EXTRAS))

.PHONY: demo test test-fast install lint browser clean dashboard results index notebooks

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python >= 3.11) on PATH"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PIP) install -q -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m haowurank.cli compare --dataset synthetic --world data/default_world.toml

dashboard: $(STAMP)
	$(VENV)/bin/streamlit run apps/dashboard.py

# Debian chromium + chromedriver for the real-browser dashboard test. Installed when missing and
# running as root; otherwise the one command to run is printed and the browser test skips.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
	    || ! fc-list 2>/dev/null | grep -qi "CJK"; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian chromium, chromium-driver and fonts-noto-cjk for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk; \
	  else \
	    echo "chromium/chromedriver or a CJK font missing: the browser test will skip. To run it:"; \
	    echo "  sudo apt-get install -y chromium chromium-driver fonts-noto-cjk"; \
	  fi; \
	fi

# The full suite (what CI runs).
test: $(STAMP) browser
	$(PY) -m pytest -q

# Everyday tier: no Spark, browser, Streamlit app, notebooks, real data or the longest tests
# (tests/conftest.py lists them); a tighter per-test limit.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not data and not spark and not browser and not app and not notebook" --timeout 300

# Regenerate one study's results: make results STUDY=<folder under experiments/>.
results: $(STAMP)
	@test -n "$(STUDY)" || { echo "usage: make results STUDY=<name>; studies:"; ls experiments/*/run.py | cut -d/ -f2; exit 2; }
	@test -f experiments/$(STUDY)/run.py || { echo "no study experiments/$(STUDY)/ (no run.py there)"; exit 2; }
	$(PY) experiments/$(STUDY)/run.py

# Rewrite experiments/README.md and the README's results table from the results files.
index: $(STAMP)
	$(PY) experiments/make_index.py

# Execute every notebook source (jupytext percent format, notebooks/0N_name.py) into its paired
# .ipynb with outputs, which is committed so the plots show on the repository page.
notebooks: $(STAMP)
	cd notebooks && for src in 0*_*.py; do \
	  echo "executing $$src"; \
	  ../$(VENV)/bin/jupytext --to ipynb --execute "$$src" || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check haowurank tests experiments apps

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
