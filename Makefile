# vaiq-build — all set-up lives here: `make demo` and `make test` work on a fresh Debian machine with Swift.
SHELL := /bin/bash
SWIFT ?= swift
PY := .venv/bin/python
# (nginx, for the remote-cache tests, is installed by tools/start_nginx.sh, which keeps its service from starting.)
DEBS := zlib1g-dev libyaml-dev libxxhash-dev xxhash libopenblas-pthread-dev libsnappy-dev libturbojpeg0-dev libpng-dev protobuf-compiler pkg-config libcurl4-openssl-dev libssl-dev
RELEASE_BIN := .build/release/vaiq-build
DEBUG_BIN := .build/debug/vaiq-build
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps venv build release test swift-test oracle-test fuzz fuzz-build fuzz-replay test-sanitize test-asan-readers test-cluster demo proto builtins fixtures example bench bench-ptq bench-schemes clean loc report-check

all: build

# Debian packages: installed only when one is missing (dpkg-query is cheap; apt-get update is not).
deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The TensorFlow oracle for tests and fixture tools (never used at run time).
venv: .venv/.installed
.venv/.installed: tools/requirements.txt
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check -r tools/requirements.txt
	@touch $@

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product vaiq-build

swift-test: deps
	$(SWIFT) test

# Checks that need TensorFlow: our outputs loaded and run by TF itself; then the build engine
# with real processes (SIGKILL mid-build, concurrent builds) on a TensorFlow-made 100 MB model.
oracle-test: build venv
	python3 tools/op_literals.py --check
	python3 tools/gen_text_schema.py --check
	VAIQ=$(DEBUG_BIN) PY=$(PY) bash tools/oracle_tests.sh
	VAIQ=$(DEBUG_BIN) PY=$(PY) bash tools/engine_tests.sh

test: swift-test oracle-test fuzz-replay test-asan-readers test-cluster

# The Slurm executor against a real single-node Slurm (slurmctld, slurmd, munged, installed and
# started in a temp folder by tools/start_slurm.sh, stopped by tools/stop_slurm.sh): the digits
# matrix through Slurm byte-identical to a local build, a cancelled job submitted again, failures.
test-cluster: deps
	$(SWIFT) build --build-tests
	VAIQ_TEST_CLUSTER=1 $(SWIFT) test --skip-build --filter SlurmBuildTests

# Fuzzing (libFuzzer + AddressSanitizer) of the manifest loader, the GraphDef binary and text
# readers with the importer, the checkpoint reader, the npy/npz reader, the action-record readers (local and remote),
# and optimize + quantize of a fuzzed graph with fuzzed calibration data (Sources/vaiq-fuzz).
# `make fuzz` runs each target for FUZZ_SECONDS from its corpus (fuzz/corpus/<target>; what it
# finds goes to .fuzz/<target>, crashes to .fuzz/crash-*); a single allocation over
# FUZZ_MALLOC_MB is a failure (one planned value may take 256 MB there, VAIQ_MAX_VALUE_MB). `fuzz-replay` (part of `make test`) replays every committed corpus
# through the plain build, then runs each target FUZZ_RUNS inputs from a fixed seed under libFuzzer
# (what that run finds goes to a scratch folder: the committed corpora stay as they are).
FUZZ_TARGETS = yaml graphdef pbtxt checkpoint npy record quantize savedmodel image actionresult
FUZZ_BIN = .build-fuzz/release/vaiq-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 2000
FUZZ_MALLOC_MB ?= 512

fuzz-build: deps
	$(SWIFT) build -c release --sanitize fuzzer --sanitize address --build-path .build-fuzz --product vaiq-fuzz \
	  -Xswiftc -DVAIQ_LIBFUZZER -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table

fuzz: fuzz-build
	@mkdir -p .fuzz; status=0; for t in $(FUZZ_TARGETS); do mkdir -p .fuzz/$$t; \
	  VAIQ_FUZZ_TARGET=$$t VAIQ_MAX_VALUE_MB=256 $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=$(FUZZ_MALLOC_MB) -rss_limit_mb=4096 \
	    -artifact_prefix=.fuzz/crash-$$t- -print_final_stats=1 .fuzz/$$t fuzz/corpus/$$t > .fuzz/$$t.log 2>&1 || status=1; \
	  printf '%-10s %s\n' $$t "$$(grep -E 'stat::number_of_executed_units' .fuzz/$$t.log | awk '{print $$2}') executions, $$(ls .fuzz/crash-$$t-* 2>/dev/null | wc -l) crashes"; \
	done; exit $$status

fuzz-replay: build fuzz-build
	@for t in $(FUZZ_TARGETS); do .build/debug/vaiq-fuzz $$t fuzz/corpus/$$t || exit 1; done
	@for t in $(FUZZ_TARGETS); do \
	  VAIQ_FUZZ_TARGET=$$t VAIQ_MAX_VALUE_MB=256 $(FUZZ_BIN) -runs=$(FUZZ_RUNS) -seed=1 -malloc_limit_mb=$(FUZZ_MALLOC_MB) -rss_limit_mb=4096 \
	    -artifact_prefix=/tmp/vaiq-fuzz-crash-$$t- $$(mktemp -d) fuzz/corpus/$$t > /tmp/vaiq-fuzz-$$t.log 2>&1 \
	    && echo "ok   fuzz $$t: $(FUZZ_RUNS) runs from seed 1" || { echo "FAIL fuzz $$t"; tail -40 /tmp/vaiq-fuzz-$$t.log; exit 1; }; \
	done

# Sanitizers, each in its own build folder. `test-sanitize` runs every unit test under
# ThreadSanitizer (the executor, stat cache and locks, the parallel kernels, and the CLI tests,
# whose vaiq-build is instrumented too: a race there exits 66 and fails the test) and under
# AddressSanitizer. Leak checking is off: XCTest keeps test cases and their fixtures alive to the
# end, which LeakSanitizer reports; out-of-bounds, use-after-free and the like fail the run.
# `test-asan-readers` (part of `make test`) is the readers' share: GraphDef, text format,
# checkpoint, npy/npz, YAML, files.
ASAN_READER_TESTS := TensorsTests|TensorFlowIOTests|ManifestTests|FileIOTests|BuildCoreTests
test-sanitize: deps
	$(SWIFT) build --build-tests --sanitize thread --build-path .build-tsan
	$(SWIFT) test --skip-build --sanitize thread --build-path .build-tsan
	$(SWIFT) build --build-tests --sanitize address --build-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --skip-build --sanitize address --build-path .build-asan

test-asan-readers: deps
	$(SWIFT) build --build-tests --sanitize address --build-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --skip-build --sanitize address --build-path .build-asan --filter '$(ASAN_READER_TESTS)'

demo: release
	bash examples/demo.sh $(RELEASE_BIN)

# The demo's HTML report rendered by a real headless browser (Debian's chromium, installed if
# missing): the screenshot must show both plots.
report-check: release
	@dpkg-query -W -f='$${Status}' chromium 2>/dev/null | grep -q 'ok installed' || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium)
	cd examples/digits && ../../$(RELEASE_BIN) all -j2 >/dev/null && ../../$(RELEASE_BIN) report >/dev/null
	chromium --headless --no-sandbox --disable-gpu --window-size=1100,900 --screenshot=examples/digits/build/report.png \
	  file://$(CURDIR)/examples/digits/build/report.html 2>/dev/null
	chromium --headless --no-sandbox --disable-gpu --dump-dom file://$(CURDIR)/examples/digits/build/report.html \
	  > examples/digits/build/report.dom.html 2>/dev/null
	python3 tools/check_report_png.py examples/digits/build/report.png examples/digits/build/report.dom.html

# Regenerate the committed Swift code from Protos/ (Debian's protoc + protoc-gen-swift built from the dependency).
proto: deps
	$(SWIFT) build -c release --product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=.build/release/protoc-gen-swift \
	  --swift_out=Sources/TFProto --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
	  -I Protos Protos/tensorflow/*.proto
	python3 tools/gen_text_schema.py

# Embed the built-in strategies and targets (manifests/*.yaml) into the binary.
builtins:
	bash tools/embed_manifests.sh

fixtures: venv
	$(PY) tools/make_fixtures.py
	$(PY) tools/fixpos_reference.py Tests/Fixtures/fixpos/cases.json
	$(PY) tools/make_npy_fixtures.py
	$(PY) tools/make_op_fixtures.py
	$(PY) tools/make_image_fixtures.py
	python3 tools/make_vendor_strategy.py

# Retrain the example models and rewrite their committed graphs, checkpoints, SavedModel and data
# (digits: scikit-learn's digits; shapes: generated images and a Keras SavedModel).
example: venv
	$(PY) examples/digits/train.py
	cd examples/shapes && ../../$(PY) make_data.py && ../../$(PY) train.py

bench: release venv
	bash bench/run.sh $(PY)
	bash bench/engine.sh $(PY)
	bash bench/infer.sh $(PY)
	bash bench/stats.sh $(PY)

# Post-training quantization against TFLite and onnxruntime (their own venv: tf2onnx, onnxruntime).
bench-schemes: release venv
	bash bench/schemes.sh $(PY)

bench-ptq: release .venv-ptq/.installed
	bash bench/ptq.sh .venv-ptq/bin/python

.venv-ptq/.installed: bench/requirements-ptq.txt
	@test -x .venv-ptq/bin/python || python3 -m venv .venv-ptq
	.venv-ptq/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements-ptq.txt
	@touch $@

loc:
	@find Sources -name '*.swift' ! -name '*.pb.swift' | xargs wc -l | tail -1

clean:
	rm -rf .build
