# sst-linkage: two commands for a newcomer (`make demo`, `make test`); see README.md.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
# benchmark-only extras (Splink for bench_public.py): never installed by demo or test
BENCH_STAMP := $(VENV)/.bench-installed-stamp
DEMO    ?= demo
SCALE   ?= small
SEED    ?= 7

# Prefect: no telemetry, and room for the embedded server to start on a busy 2-core machine.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: venv bench-deps demo test test-slow bench-ingest bench-encode bench-linkage bench-robustness bench-outputs bench-faults bench-privacy lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

## make bench-deps: requirements-bench.txt (Splink 5 and companions) into .venv, for benchmarks only
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python -m pip check
	@touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

## make demo: synthetic night -> nightly flow on the embedded Prefect -> summary
demo: venv
	$(BIN)/sst-link synth --out $(DEMO)/extracts --scale $(SCALE) --seed $(SEED)
	@test -f $(DEMO)/linkage.key || $(BIN)/sst-link keygen --out $(DEMO)/linkage.key
	@test -f $(DEMO)/keys/demo_navigator.private.pem || $(BIN)/sst-link recipient-keygen \
	    --name demo_navigator --out $(DEMO)/keys
	@test -f $(DEMO)/keys/pipeline.key || $(BIN)/sst-link keygen --signing --out $(DEMO)/keys/pipeline.key
	@printf '# made by make demo: the pipeline signing key and the demo recipient of the identified roster\n[handoff]\nsigning_key = "%s"\n[handoff.recipients]\ndemo_navigator = "%s"\n' \
	    "$(abspath $(DEMO))/keys/pipeline.key" "$(abspath $(DEMO))/keys/demo_navigator.public.pem" > $(DEMO)/demo.toml
	SST_LINKAGE_KEY_FILE=$(DEMO)/linkage.key $(BIN)/sst-link run --extracts $(DEMO)/extracts \
	    --out $(DEMO)/runs --config $(DEMO)/demo.toml --truth $(DEMO)/extracts/truth --force
	@run=$$(ls -d $(DEMO)/runs/2*/ | sort | tail -1); rm -f $(DEMO)/identified_roster.csv; \
	    echo "program staff decrypt the identified roster with their private key:"; \
	    echo "  sst-link decrypt --in $${run}identified_roster.demo_navigator.enc" \
	         "--key $(DEMO)/keys/demo_navigator.private.pem --sender-key $(DEMO)/keys/pipeline.public.pem" \
	         "--out $(DEMO)/identified_roster.csv"; \
	    $(BIN)/sst-link decrypt --in $${run}identified_roster.demo_navigator.enc \
	        --key $(DEMO)/keys/demo_navigator.private.pem --sender-key $(DEMO)/keys/pipeline.public.pem \
	        --out $(DEMO)/identified_roster.csv

## make test: lint, then the default suite (< 10 min on 2 cores)
test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-slow: venv
	$(BIN)/python -m pytest -m slow

bench-ingest: venv
	$(BIN)/python benchmarks/bench_ingest.py --scale large

## linkage quality (FEBRL, synthetic nights on seeds the model was not tuned on), speed, memory;
## then Splink's historical_figures_with_errors_50k, the product beside Splink's example model
## (needs benchmarks/data/historical_figures_with_errors_50k.parquet, see benchmarks/bench_public.py)
bench-linkage: venv bench-deps
	$(BIN)/python benchmarks/bench_febrl.py
	$(BIN)/python benchmarks/bench_linkage.py --scale small medium --seeds 41 42
	$(BIN)/python benchmarks/bench_linkage.py --scale large --seeds 41 --no-plaintext
	$(BIN)/python benchmarks/bench_public.py

## linkage quality on populations the model was not tuned on (every synth profile, held-out
## seeds), worst case first; quick: benchmarks/bench_robustness.py --scale small --profiles city
bench-robustness: venv
	$(BIN)/python benchmarks/bench_robustness.py --scale medium large --seeds 101

## two consecutive nights: id stability, suppression, encrypted handoff, stage times
bench-outputs: venv
	$(BIN)/python benchmarks/bench_outputs.py --scale small medium --seed 41

## fault matrix: each stage x {killed, disk full, input truncated, input vanished, schema drift,
## concurrent run, key changed} on a small night: exit status, lines printed, what the output
## root holds after, whether the next run recovers (about 25 min; one stage:
## .venv/bin/python benchmarks/bench_faults.py --stages link)
bench-faults: venv
	$(BIN)/python benchmarks/bench_faults.py

## privacy audit: every attack of `sst-link audit` (frequency, pattern mining, graph matching,
## blocking-token frequencies) on the medium night of every synth profile, default hardening
## (about 2 min a night); quick: benchmarks/bench_audit.py --scale small --profiles baseline
bench-privacy: venv
	$(BIN)/python benchmarks/bench_audit.py --scale medium --seed 101

bench-encode: venv
	$(BIN)/python benchmarks/bench_encode.py --scale medium
	$(BIN)/python benchmarks/bench_encode.py --scale large

## make lock: re-resolve requirements.in into requirements.lock in a throw-away venv
lock:
	rm -rf /tmp/sst-lock-venv && $(PY) -m venv /tmp/sst-lock-venv
	/tmp/sst-lock-venv/bin/python -m pip install --quiet -r requirements.in
	/tmp/sst-lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
