# The two commands a newcomer needs: `make run` and `make test`.
# Both set up everything they need first (venv, Python and npm packages).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: setup system run test test-postgres lint browser e2e clean

setup: system $(VENV)/.installed static/vendor/htmx.min.js

# Debian packages, each installed only when it is missing, one at a time
# (node and npm come with the machine: never Debian's npm beside them).
# $(call need,<test that it is there>,<package>)
define need
	@$(1) || { echo "installing $(2)"; apt-get install -y -q $(2) >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q $(2); }; }
endef

# What WeasyPrint renders PDFs with: Pango and the fonts it embeds.
system:
	$(call need,ldconfig -p | grep -q libpangoft2-1.0,libpangoft2-1.0-0)
	$(call need,test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf,fonts-dejavu-core)

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

static/vendor/htmx.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

# Debian's Chromium for the end-to-end tests (Playwright cannot download one here).
browser:
	$(call need,command -v chromium >/dev/null,chromium)

run: setup
	@mkdir -p var
	@test -s var/secret_key || $(PY) -c "import secrets; print(secrets.token_urlsafe(32))" > var/secret_key
	PORTAL_SECRET_KEY=$$(cat var/secret_key) $(PY) -m portal.cli run

test: setup browser
	$(PY) -m pytest

# Style and structure: ruff, and the import contracts in pyproject.toml (no circles, layers kept).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# The same unit, integration and race tests on PostgreSQL (CI runs both). The browser
# journeys and the SQLite side of the races ran in `make test` already. PG_URL's
# database is created if it is missing (CI gives this run one of its own).
test-postgres: setup browser
	$(PY) -m tests.pg_database $(PG_URL)
	DATABASE_URL=$(PG_URL) PORTAL_TEST_OTHER_ENGINE=0 $(PY) -m pytest tests

clean:
	rm -rf $(VENV) node_modules static/vendor var
