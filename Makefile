# Incident Intelligence: one way to run it all locally, without Docker.
#   make up      install what is missing, start Kafka, the MongoDB-protocol server and every service
#   make test    the same set-up, then every test layer (unit, integration, e2e, browser)
#   make down    stop everything
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_DIRS := shared/src services
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTEST := .venv/bin/python -m pytest

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

.PHONY: setup
setup: ## install Python dependencies (uv), the Kafka jars and the MongoDB-protocol server
	@deploy/local/setup.sh

.PHONY: infra
infra: setup ## start Kafka and the MongoDB-protocol server, create the topics
	@deploy/local/infra.sh start

.PHONY: up
up: infra ## start everything and wait until it is ready
	@deploy/local/services.sh start
	@deploy/local/urls.sh

.PHONY: demo
demo: ## post a realistic incident storm through the API (run make up first), then watch http://localhost:3000
	.venv/bin/python deploy/demo/storm.py

.PHONY: down
down: ## stop every service and the infrastructure
	@deploy/local/services.sh stop
	@deploy/local/infra.sh stop

.PHONY: status
status: ## what is running
	@deploy/local/infra.sh status
	@deploy/local/services.sh status

.PHONY: test
test: infra ## every test layer against the real Kafka and MongoDB-protocol server
	@deploy/local/setup-test.sh
	$(PYTEST) tests

.PHONY: test-unit
test-unit: setup ## fast tests of pure logic, no servers
	$(PYTEST) -m unit tests

.PHONY: test-integration
test-integration: infra ## tests against the real Kafka and MongoDB-protocol server
	$(PYTEST) -m "integration or e2e" tests

.PHONY: lint
lint: setup ## ruff and mypy --strict over shared/ and services/
	.venv/bin/ruff check $(PYTHON_DIRS) tests
	.venv/bin/ruff format --check $(PYTHON_DIRS) tests
	.venv/bin/mypy $(PYTHON_DIRS)

.PHONY: fmt
fmt: setup ## format the Python code
	.venv/bin/ruff format $(PYTHON_DIRS) tests
	.venv/bin/ruff check --fix $(PYTHON_DIRS) tests

.PHONY: bench
bench: infra ## benchmarks: print throughput and latency figures (not pass/fail)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python "$$b"; done

.PHONY: logs
logs: ## follow every service's log
	@tail -n 20 -F .local/logs/*.log
