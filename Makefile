# haowurank: the two commands are `make demo` and `make test`.
comma := ,
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
EXTRAS ?= dev,app,notebooks,spark,peers
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-8)-$(subst $(comma),_,$(EXTRAS))

.PHONY: demo test install lint browser clean dashboard

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
	$(PY) -m haowurank.cli compare --dataset synthetic

dashboard: $(STAMP)
	$(VENV)/bin/streamlit run apps/dashboard.py

# Debian chromium + chromedriver for the real-browser dashboard test (installed when missing).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "installing Debian chromium and chromium-driver for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

test: $(STAMP) browser
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check haowurank tests experiments apps

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
