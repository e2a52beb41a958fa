# Two commands for a newcomer:  make run   (set up, demo data, serve on :8000)
#                               make test  (everything CI checks)
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test-only JavaScript (axe-core for the accessibility tests), pinned by package-lock.json.
NODE_STAMP := node_modules/.installed

.PHONY: run test lint install messages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The traveller pages' translations: locale/*.po compiled to .mo (not committed; msgfmt
# from GNU gettext). Without a settings module, so it needs no SECRET_KEY.
messages: $(STAMP)
	DJANGO_SETTINGS_MODULE= $(BIN)/python -m django compilemessages --ignore '.*' --ignore node_modules

install: $(STAMP) $(NODE_STAMP) messages

run: $(STAMP) messages
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 $(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) $(NODE_STAMP) messages lint
	$(BIN)/python -m pytest
	$(BIN)/python scripts/pytest-pgvector -q
