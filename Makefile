# Two commands on a fresh clone: `make run` (the whole stack) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)

NODE_DIR   := tests/oidc_provider
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
AXE_DIR    := tests/browser/axe
AXE_STAMP  := $(AXE_DIR)/node_modules/.installed
MCP_TS_DIR   := tests/mcp_ts_client
MCP_TS_STAMP := $(MCP_TS_DIR)/node_modules/.installed

.PHONY: run test lint mutate mcp-demo clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

# oidc-provider (Node.js), the independent OpenID Provider the interoperability tests run.
$(NODE_STAMP): $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# axe-core, injected into pages by the browser tests.
$(AXE_STAMP): $(AXE_DIR)/package-lock.json
	npm ci --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# The official MCP TypeScript SDK, the client the end-to-end tests drive under Node.js.
$(MCP_TS_STAMP): $(MCP_TS_DIR)/package-lock.json
	npm ci --prefix $(MCP_TS_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests drive, installed when missing (as root, like CI).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
/usr/lib/postgresql:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
/usr/sbin/nginx:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx

## Start the customer side (:5000), mock broker (:5001), OIDC stand-in (:5002) and a mail sink.
run: $(STAMP)
	$(BIN)/python -m scripts.run_stack

## With `make run` going (another terminal): the official MCP client signs in, prints whoami.
mcp-demo: $(STAMP)
	$(BIN)/python -m scripts.mcp_demo

## Lint, then run every test: on SQLite, then again on PostgreSQL.
test: $(STAMP) $(NODE_STAMP) $(AXE_STAMP) $(MCP_TS_STAMP) /usr/bin/chromium /usr/lib/postgresql /usr/sbin/nginx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest
	@echo "== the same suite on PostgreSQL (a throwaway server the tests start: tests/databases.py) =="
	TEST_DATABASE=postgresql $(BIN)/python -m pytest

## Break each security property on purpose (tests/mutate.py) and check a test goes red.
mutate: $(STAMP) $(NODE_STAMP) $(AXE_STAMP) $(MCP_TS_STAMP) /usr/bin/chromium
	$(BIN)/python -m tests.mutate

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache $(NODE_DIR)/node_modules $(AXE_DIR)/node_modules \
		$(MCP_TS_DIR)/node_modules
