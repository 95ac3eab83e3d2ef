# One entry point for developers and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
CLUSTER ?= local
WIPE ?=
PYTEST_ARGS ?=
LANES ?= 3
# Where the collection is copied for ansible-test (it needs the
# ansible_collections/<namespace>/<name> layout).
PYVER = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SANITY_ROOT := $(abspath .cache/sanity)/ansible_collections/alertmanagerpp/datastores

CLUSTER_SCRIPT := tests/cluster/$(if $(filter kind,$(CLUSTER)),kind.sh,cluster.sh)
export K8S_AUTH_KUBECONFIG ?= $(shell $(CLUSTER_SCRIPT) kubeconfig)
export KUBECONFIG := $(K8S_AUTH_KUBECONFIG)
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help venv host-deps cluster cluster-down cluster-status lint yamllint ansible-lint sanity \
        unit smoke molecule cluster-tests test demo bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create the pinned Python environment in .venv

host-deps: ## Debian packages the tests run on the host (redis-server, shellcheck, prometheus)
	tests/host-deps.sh

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

cluster: ## bring up the local Kubernetes (idempotent; CLUSTER=kind to use kind)
	$(CLUSTER_SCRIPT) up

cluster-down: ## stop the local Kubernetes (WIPE=1 also deletes its state)
	$(CLUSTER_SCRIPT) down $(if $(WIPE),--wipe)

cluster-status: ## exit 0 when the local Kubernetes answers
	$(CLUSTER_SCRIPT) status

lint: yamllint ansible-lint sanity ## all linters

yamllint: venv
	$(BIN)/yamllint --strict .

ansible-lint: venv
	$(BIN)/ansible-lint --profile production --strict

sanity: venv host-deps ## ansible-test sanity on a copy laid out as ansible_collections/...
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' | \
	  xargs -0 cp --parents -t $(SANITY_ROOT)
	cd $(SANITY_ROOT) && git init -q && git add -A  # ansible-test lists files with git
	# ansible-test bootstraps pip in its venvs with a get-pip.py from a host
	# these machines cannot reach: give it tests/sanity/get_pip_standin.py.
	v=$$(grep -oP "pip='\K[0-9.]+" $$($(BIN)/python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py); \
	  mkdir -p ~/.ansible/test/cache && cp tests/sanity/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${v//./_}.py
	cd $(SANITY_ROOT) && $(BIN)/ansible-test sanity --python $(PYVER) --color no

unit: venv host-deps ## unit tests of plugins/ (real redis-server where Redis is involved)
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

smoke: venv cluster ## the cluster tests (tests/cluster), two lanes side by side
	tests/lanes.sh --lanes 2 --pytest $(BIN)/pytest -- $(PYTEST_ARGS)

molecule: venv cluster ## molecule scenarios on the real cluster, two side by side (SCENARIOS="a b" for some)
	tests/lanes.sh --lanes 2 --molecule $(BIN)/molecule --scenarios "$(SCENARIOS)"

cluster-tests: venv cluster ## the cluster tests and the molecule scenarios from one queue, LANES (3) side by side
	tests/lanes.sh --lanes $(LANES) --pytest $(BIN)/pytest --molecule $(BIN)/molecule -- $(PYTEST_ARGS)

test: venv host-deps ## everything CI runs: the linters while the cluster comes up, then the tests
	@# The cluster's first start builds Kubernetes and the images (minutes on a new machine): beside the
	@# linters, which need no cluster and time nothing (the unit tests time some things: after it). Host
	@# packages are installed first, one apt at a time.
	@log=$$(mktemp); $(CLUSTER_SCRIPT) up >"$$log" 2>&1 & cluster=$$!; \
	  status=0; $(MAKE) --no-print-directory lint || status=$$?; \
	  wait "$$cluster" || status=$$?; cat "$$log"; rm -f "$$log"; exit "$$status"
	$(MAKE) --no-print-directory unit cluster-tests

demo: venv cluster ## bring up the cluster and deploy the standard profile on it
	$(BIN)/ansible-playbook playbooks/deploy.yml -e profile=standard

bench: venv cluster ## benchmarks (print ratios against a baseline in the same run)
	@for b in bench/*.py; do $(BIN)/python $$b; done

clean: ## remove the venv and local caches of this checkout
	rm -rf $(VENV) .cache
