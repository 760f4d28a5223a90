# hostelhub: `make run` for the demo, `make test` for every test.
GO ?= go

.PHONY: run test build generate check bench bench-sse bench-dashboard fuzz harden clean

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

# Attackers and faults, with the figures: inputs tried, faults injected,
# rapid writes refused by the limits,
# requests answered, 5xx seen, events and rows lost.
HARDEN_TESTS = CSRF|XSS|SecurityHeaders|CookieFlags|SignInTiming|SignInIsRateLimited|SignInLimit|WriteLimit|StreamLimit|RapidReports|FiftyConcurrentWriters|StuckStream|RandomDisconnects|Outage|Harden|Authorisation|Validation|BodiesOverTheLimit
harden:
	@$(GO) test -count=1 -v -run '$(HARDEN_TESTS)' . ./handlers/ 2>&1 | tee /tmp/hostelhub-harden.log | grep -E '^(--- FAIL|FAIL|ok)' ; \
	echo; echo "== hostelhub hardening figures"; grep -hE 'harden: |routes, [0-9]+ requests|events of hostel|stuck stream dropped' /tmp/hostelhub-harden.log | sed 's/^ *[a-z_]*_test.go:[0-9]*: /  /'; \
	! grep -q -- '--- FAIL' /tmp/hostelhub-harden.log

# Each fuzz target for FUZZTIME; what the fuzzer found interesting is kept
# in the package's testdata/fuzz, so that `make test` replays it every time.
FUZZTIME ?= 30s
FUZZ_TARGETS = handlers:FuzzReportForm handlers:FuzzReportJSON handlers:FuzzStatusForm store:FuzzSessionCodec realtime:FuzzFrameRoundTrip
fuzz:
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz/hostelhub; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$pkg/; \
		mkdir -p $$pkg/testdata/fuzz/$$name; \
		if [ -d "$$cache/$$pkg/$$name" ]; then cp -n "$$cache/$$pkg/$$name/"* $$pkg/testdata/fuzz/$$name/ 2>/dev/null || true; fi; \
		echo "   corpus kept: $$(ls $$pkg/testdata/fuzz/$$name | wc -l) inputs in $$pkg/testdata/fuzz/$$name"; \
	done

# The dashboard under load (Redis at REDIS_URL or 127.0.0.1:6379): cache hits
# against controls, miss cost, database work saved. Flags: DASH="-dash.conns 50 -dash.duration 10s -dash.issues 50000".
# GOGC as the app sets it for itself (gcPercent in main.go).
bench-dashboard:
	GOGC=$${GOGC:-400} $(GO) test -run '^$$' -bench BenchmarkDashboardLoad -benchtime 1x -timeout 15m . $(if $(DASH),-args $(DASH))

# Live streams under load (not part of make bench): N streams (default 10,000),
# issues reported at a steady rate; prints delivery latency, server memory per
# stream and idle CPU. make bench-sse N=1000 for a smaller run; other knobs
# through SSE, e.g. SSE="-sse.rate 10 -sse.duration 30s -sse.idle 40s".
bench-sse:
	$(GO) test -run '^$$' -bench BenchmarkSSEFanout -benchtime 1x -timeout 20m . $(if $(N),-sse.streams $(N)) $(SSE)
