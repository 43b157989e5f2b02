# The front door. Every target installs what it needs into .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PATIENTS ?= 50000
SEED ?= 7
DATA ?= data/demo
PORT ?= 8501

.PHONY: install run demo publish app test browser browser-deps lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(BIN)/carescore demo --out $(DATA) --patients $(PATIENTS) --seed $(SEED)

publish: install
	$(BIN)/carescore run --data $(DATA)

app: install
	$(BIN)/streamlit run app/Home.py --server.port $(PORT) --server.headless true

# demo data → validate → compute → publish → open the app
run: demo publish app

# Debian's Chromium for the real-browser tests (never `playwright install`: downloads are blocked)
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: install browser-deps
	$(BIN)/ruff check src tests app bench
	$(BIN)/pytest -q -n 2

# the real-browser tests alone (screenshots under build/browser/screenshots); `make test` runs them too
browser: install browser-deps
	$(BIN)/pytest -q -m browser tests/browser

lint: install
	$(BIN)/ruff check src tests app

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(DATA) data/published build
