# reverbd — build, check and test. `make test` is what CI runs (.ci/run).
GO ?= go
BIN := bin/reverbd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build run test check test-go test-e2e bench clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/reverbd

# run starts the server in the foreground with the shipped example settings.
run: build
	./$(BIN) start --env-file .env.example

# test runs every check and test: formatting, vet, staticcheck, the Go tests with the race
# detector, the Go benchmarks once, and the Node end-to-end suite against the built binary.
test: check test-go test-e2e

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Redis tests use REDIS_URL; without it they are skipped, except under CI=true.
test-go:
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...

# The Node suite runs twice: on the in-process queue and on the Redis queue (REDIS_URL,
# default the local Redis, database 9).
test-e2e: build
	cd e2e && npm ci --no-audit --no-fund
	cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=memory npm test
	cd e2e && REVERBD_BIN=$(CURDIR)/$(BIN) E2E_QUEUE_CONNECTION=redis REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/9} npm test

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin e2e/node_modules
