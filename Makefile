# reverbd — build, check and test. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -o pipefail -ec
GO ?= go
BIN := bin/reverbd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# How long each Go fuzz target runs in `make test` (go test -fuzztime).
FUZZTIME ?= 5s
# What `make test` skipped, with the reason: one line per test (kind, name, reason).
SKIPPED := bin/test-skipped.txt
REPORT := bin/testreport

# The Redis tests use REDIS_URL. When it is not set and a Redis answers PING on
# 127.0.0.1:6379, they use that Redis's database 9.
ifeq ($(origin REDIS_URL),undefined)
ifeq ($(shell timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && IFS= read -r -t 2 reply <&3 && [[ $$reply == +PONG* ]]' 2>/dev/null && echo up),up)
REDIS_URL := redis://127.0.0.1:6379/9
REDIS_FROM := the local Redis at 127.0.0.1:6379, database 9
else
NO_REDIS := REDIS_URL is not set and no Redis answers PING on 127.0.0.1:6379
endif
endif
REDIS_FROM ?= REDIS_URL from the environment
NO_REDIS ?= REDIS_URL is empty
export REDIS_URL REDIS_FROM NO_REDIS

.PHONY: build run test check redis node-deps test-go fuzz test-e2e bench clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/reverbd

# run starts the server in the foreground with the shipped example settings.
run: build
	./$(BIN) start --env-file .env.example

# test runs every check and test: formatting, vet, staticcheck, the Go tests with the race
# detector, the Go benchmarks once, each Go fuzz target for FUZZTIME, and the Node end-to-end
# suite against the built binary. It ends with the list of what was skipped and why, also
# when a step failed.
test: $(REPORT)
	@rm -f $(SKIPPED)
	@status=0; $(MAKE) --no-print-directory check test-go fuzz test-e2e || status=$$?; \
	echo; if [ -x $(REPORT) ]; then $(REPORT) -summary $(SKIPPED); fi; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; else echo "make test: passed"; fi; \
	exit $$status

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# redis says which Redis the tests use. Without one, the Redis tests are skipped, except
# under CI=true, where a missing Redis fails.
redis:
	@if [ -n "$$REDIS_URL" ]; then echo "Redis tests: $(REDIS_FROM)"; \
	elif [ "$$CI" = true ]; then \
	  echo "Redis tests: $(NO_REDIS), but CI runs every Redis test"; exit 1; \
	else \
	  echo "Redis tests: SKIPPED: $(NO_REDIS) (start redis-server, or set REDIS_URL=redis://host:6379/9)"; \
	fi

$(REPORT): $(wildcard cmd/internal/testreport/*.go)
	$(GO) build -o $@ ./cmd/internal/testreport

# node-deps installs the Node packages of e2e/package.json: the end-to-end suite's clients, and
# the TypeScript compiler the Go test of `reverbd channels generate ts` runs.
node-deps:
	cd e2e && npm ci --no-audit --no-fund

# The Go tests and benchmarks; skipped tests are listed at the end of `make test`.
test-go: redis node-deps $(REPORT)
	$(GO) test -race -count=1 -json ./... | $(REPORT) -skipped $(SKIPPED)
	$(GO) test -run '^$$' -bench . -benchtime=1x -json ./... | $(REPORT) -skipped $(SKIPPED)

# fuzz runs every Go fuzz target (each `func Fuzz...` in a _test.go file) for FUZZTIME, one
# at a time: go test -fuzz takes one target per run. An input that fails is saved under the
# package's testdata/fuzz/ and fails the step.
fuzz:
	@targets=$$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort); \
	for file in $$targets; do \
	  for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$file"); do \
	    echo "fuzz: $$name in ./$$(dirname "$${file#./}") for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "./$$(dirname "$${file#./}")"; \
	  done; \
	done

# The Node suite runs twice: on the in-process queue and on the Redis queue (REDIS_URL).
# Without Redis (see the redis target), the Redis pass is skipped, and so are the files that
# start a cluster (helpers/lifecycle.js useCluster), which needs Redis in either pass.
test-e2e: build redis node-deps
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=memory npm test"; \
	  cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=memory npm test; \
	else \
	  cd e2e; mkdir -p ../bin; files=; \
	  for f in test/*.test.js; do \
	    if grep -q useCluster "$$f"; then \
	      echo "e2e: $$f is SKIPPED: it starts a cluster, which needs Redis"; \
	      printf 'e2e\t%s\tno Redis: %s\n' "$$f" "$(NO_REDIS)" >> ../$(SKIPPED); \
	    else files="$$files $$f"; fi; \
	  done; \
	  echo "e2e: memory pass without Redis:$$files"; \
	  REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=memory node --test --test-concurrency=1 --test-timeout=120000 $$files; \
	fi
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=redis npm test"; \
	  cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=redis npm test; \
	else \
	  echo "e2e: the Redis pass is SKIPPED: no Redis"; \
	  printf 'e2e\tthe whole Redis pass\tno Redis: %s\n' "$(NO_REDIS)" >> $(SKIPPED); \
	fi
	@if [ "$$E2E_FAULTS" = 0 ]; then \
	  for f in e2e/test/17-faults-*.test.js; do \
	    printf 'e2e\t%s\tcluster fault tests left out with E2E_FAULTS=0\n' "$${f#e2e/}" >> $(SKIPPED); \
	  done; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin e2e/node_modules
