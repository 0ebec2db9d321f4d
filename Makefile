# Two commands on a fresh machine: `make synth` and `make test` (see README.md; make help lists the rest).
SHELL := /bin/bash
.DEFAULT_GOAL := synth

PYTHON ?= python3
STAGE ?= dev
VENV := .venv
PY := $(VENV)/bin/python
CDK_CLI := node_modules/.bin/cdk
# Stacks live in a cdk.Stage named after the stage ("Dev/Environment", ...).
STAGE_ID := $(shell s='$(STAGE)'; echo "$${s^}")
CDK_RUN = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CDK_CLI)
# PINS=file.json: the model package (and baseline) each endpoint deploys, as the delivery pipeline pins them.
PINS ?=
PINS_ARG = $(if $(PINS),-c model_packages_file=$(PINS),)

# Quiet, offline, no telemetry (see ../shared/TOOLING.md).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help setup tools ship-image image-tag synth cost test lint diff deploy destroy teardown tag-provisioned bootstrap bench-synth local bench-serve bench-drift bench-check synth-delivery deploy-delivery deploy-local destroy-local mutate docs clean

## help: every target, one line each (this list)
help:
	@awk '/^## [a-z][a-z /-]*: / { sub(/^## /, ""); split($$0, part, ": "); printf "  %-28s %s\n", part[1], substr($$0, length(part[1]) + 3) }' $(MAKEFILE_LIST)

$(VENV)/.runtime: requirements.txt
	@echo "==> creating $(VENV) and installing the CDK app's Python packages (requirements.txt): a minute on a fresh machine"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.container: $(VENV)/.runtime container/requirements.txt container/requirements-mlflow.txt
	@echo "==> installing the image's Python packages into $(VENV) (container/requirements*.txt)"
	$(PY) -m pip install --quiet --disable-pip-version-check -r container/requirements.txt -r container/requirements-mlflow.txt
	touch $@

$(VENV)/.tools: $(VENV)/.runtime requirements-tools.txt
	@echo "==> installing the AWS-calling tools' packages into $(VENV) (requirements-tools.txt)"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-tools.txt requirements-sdk.txt container/requirements.txt container/requirements-mlflow.txt cli/pyproject.toml
	@echo "==> installing the test suite's packages into $(VENV) (requirements-dev.txt, requirements-sdk.txt): a few minutes on a fresh machine"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-sdk.txt
	touch $@

# checkov (CloudFormation checks over the synthesized templates) lives in a venv of its own: its dependency tree
# (every version pinned in requirements-checkov.txt) is not the app's.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@echo "==> creating $(CHECKOV_VENV) for checkov (requirements-checkov.txt)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> installing the pinned CDK CLI and cdk-nag's peers with npm ci (package-lock.json)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## setup: install everything the tests need (the venvs, the CDK CLI, nginx where it can); make test runs it first
setup: $(VENV)/.dev node_modules/.installed $(CHECKOV_VENV)/.installed
	@bash tools/install_nginx.sh

## synth: synthesize every stack of STAGE (default dev) into cdk.out/ and list them
synth: $(VENV)/.runtime node_modules/.installed
	rm -rf cdk.out
	$(CDK_RUN) synth --quiet -c stage=$(STAGE)
	$(PY) tools/list_stacks.py cdk.out
	$(PY) tools/endpoints.py $(STAGE)

## cost: synthesize STAGE, then its idle monthly cost per stack and in all from config/pricing/prices.yaml, and what bills per use
cost: synth
	$(PY) tools/cost.py cdk.out/assembly-$(STAGE_ID)

## test: lint and format check, then the whole offline test suite on TEST_WORKERS processes, printing its 15 slowest
TEST_WORKERS ?= 2
test: setup lint
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=15

## mutate: mutation testing (mutmut, pinned, outside the dev venv): each module's score; survivors in mutate-report/
MUTATE_LIB := .mutate-lib
$(MUTATE_LIB)/.installed: requirements-mutate.txt $(VENV)/.dev
	rm -rf $(MUTATE_LIB)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(MUTATE_LIB) -r requirements-mutate.txt
	touch $@

mutate: $(MUTATE_LIB)/.installed
	$(PY) tools/mutate.py $(MODULES)

## lint: ruff's lint and format check over every Python file (`.venv/bin/ruff format .` fixes the format)
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## tools: the venv the AWS-calling tools need (the delivery pipeline's image steps use it)
tools: $(VENV)/.tools

## image-tag: the tag the app and the delivery pipeline give the image (derived from container/'s image sources)
image-tag: $(VENV)/.runtime
	@$(PY) -c 'from config.image import content_tag; print(content_tag())'

## ship-image: build container/, run its loop inside it, push it to the registry stage's repositories, wait for ECR's scan
# (Docker and AWS credentials; what the delivery pipeline's image step does)
ship-image: $(VENV)/.tools
	$(PY) tools/ship_image.py ship

## bootstrap: the CDK bootstrap stack of STAGE's account and region (once per account; credentials in the environment)
bootstrap: $(VENV)/.runtime node_modules/.installed
	$(CDK_RUN) bootstrap -c stage=$(STAGE)

## diff: what `make deploy` would change in STAGE's account
diff: $(VENV)/.runtime node_modules/.installed
	$(CDK_RUN) diff -c stage=$(STAGE) $(PINS_ARG) '$(STAGE_ID)/*'

## deploy: every stack of STAGE into its account (credentials in the environment)
deploy: $(VENV)/.runtime node_modules/.installed
	$(CDK_RUN) deploy -c stage=$(STAGE) $(PINS_ARG) '$(STAGE_ID)/*'

## destroy: every stack of STAGE (stateful resources are retained; `make teardown` first where Studio was used)
destroy: $(VENV)/.runtime node_modules/.installed
	$(CDK_RUN) destroy -c stage=$(STAGE) '$(STAGE_ID)/*'

## teardown: before `make destroy` where Studio was used: deletes apps, spaces, profiles and the domain; asks CONFIRM=<stage>
# (home EFS per home_efs_on_teardown), stops MLflow tracking servers, clears what blocks the VPC
teardown: $(VENV)/.runtime
	$(PY) tools/teardown.py --stage $(STAGE) --confirm "$(CONFIRM)"

## tag-provisioned: once after upgrading: puts STAGE's TagOption on the stacks its products provisioned before it existed
# (the launch roles change only stacks so tagged); prints what it would tag, and tags with APPLY=1
tag-provisioned: $(VENV)/.runtime
	$(PY) tools/tag_provisioned_stacks.py --stage $(STAGE) $(if $(APPLY),--apply,)

## deploy-local: STAGE deployed by the pinned CDK CLI into moto's server on 127.0.0.1 (no account, no Docker)
deploy-local: setup
	rm -rf cdk.out
	$(CDK_RUN) synth --quiet -c stage=$(STAGE)
	$(PY) tools/deploy_local.py deploy --assembly cdk.out/assembly-$(STAGE_ID)

## destroy-local: destroy what deploy-local deployed and stop moto's server
destroy-local: setup
	$(PY) tools/deploy_local.py destroy

## synth-delivery: synthesize the self-mutating delivery pipeline (config/delivery/pipeline.yaml)
synth-delivery: $(VENV)/.runtime node_modules/.installed
	rm -rf cdk.out
	$(CDK_RUN) synth --quiet -c target=delivery
	$(PY) tools/list_stacks.py cdk.out

## deploy-delivery: deploy the delivery pipeline (credentials of its account)
deploy-delivery: $(VENV)/.runtime node_modules/.installed
	$(CDK_RUN) deploy -c target=delivery Delivery

## bench-synth: wall time of synthesizing the default app vs a one-bucket app
bench-synth: $(VENV)/.runtime
	$(PY) tools/bench_synth.py

## local: the whole ML loop on this machine (no AWS, no Docker); LOCAL_ARGS="--drift --hp model_type=random_forest"
local: $(VENV)/.container
	PYTHONPATH=container $(PY) -m mlops_container.local $(LOCAL_ARGS)

## bench-serve: our serving stack vs a Flask + pandas predictor, both driven by wrk (apt-get install wrk), and in-process predict
bench-serve: .venv-bench/.installed
	PYTHONPATH=container .venv-bench/bin/python tools/bench_serve.py $(BENCH_ARGS)

.venv-bench/.installed: requirements-bench.txt container/requirements.txt
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

## bench-drift: the drift check on 1,000,000 captured records vs evidently (in its own venv, .venv-bench)
bench-drift: .venv-bench/.installed
	.venv-bench/bin/python tools/bench_drift.py

## bench-check: the scheduled drift check's cost per hourly check and its latency (in process, moto) vs a Model Monitor run
bench-check: $(VENV)/.dev
	$(PY) tools/bench_check.py

## docs: regenerate the pictures in docs/pictures from dev's synthesized templates (Graphviz's dot: apt-get install graphviz)
docs: $(VENV)/.dev node_modules/.installed
	@command -v dot >/dev/null || { echo "docs: Graphviz's dot is needed to draw the SVGs (apt-get install graphviz, brew install graphviz)" >&2; exit 2; }
	rm -rf cdk.out
	$(CDK_RUN) synth --quiet -c stage=dev
	$(PY) tools/docs.py cdk.out/assembly-Dev

## clean: remove what the targets generate (cdk.out, .local, the bench venv, local deploys)
clean:
	rm -rf cdk.out .pytest_cache .local .venv-bench .local-deploy
