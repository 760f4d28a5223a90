# hostelhub: `make run` for the demo, `make test` for every test.
GO ?= go

.PHONY: run test build generate check bench bench-sse bench-dashboard fuzz clean

run: generate
	DEMO=1 $(GO) run .

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

build: generate
	$(GO) build -o hostelhub .

# templ components compile to *_templ.go, which are committed.
generate:
	$(GO) tool templ generate

# Fails if generated code or formatting is stale.
check: generate
	test -z "$$(gofmt -l .)"
	git diff --exit-code -- '*_templ.go'

# The figures the issue desk is held to: list and dashboard over 50,000 issues.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 200x -count 1 ./store/ ./handlers/

clean:
	rm -f hostelhub hostelhub.db hostelhub.db-shm hostelhub.db-wal
