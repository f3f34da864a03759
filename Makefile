# OpenGSLB developer targets. `make help` lists them.

GO          ?= go
BIN         ?= bin/opengslb
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZ_PKG    ?= ./actors/responder/
FUZZ_TIME   ?= 30s
TEST_FLAGS  ?= -race -count=1 -timeout 280s

.PHONY: build help run test tools lint bench bench-dns fuzz clean

# The first target is the default: `make` builds.
build:
	$(GO) build -o $(BIN) ./cmd/opengslb

help:
	@echo 'make build      build $(BIN)'
	@echo 'make run        run the overwatch demo (DNS 127.0.0.1:15353, metrics 127.0.0.1:19091)'
	@echo 'make test       go vet and the race-enabled test suite'
	@echo 'make lint       gofmt, go vet, staticcheck'
	@echo 'make bench      Go benchmarks of the actors'
	@echo 'make bench-dns  dnsperf: overwatch vs. a minimal miekg/dns baseline (BENCH_SECONDS=10)'
	@echo 'make fuzz       fuzz the responder for $(FUZZ_TIME)'
	@echo 'make clean      remove build output'

run:
	$(GO) run ./cmd/opengslb overwatch --demo

# Tools the tests need beyond Go. `-race` needs cgo and so a C compiler;
# Go's own machine images carry gcc, a bare Debian one may not. The DNSSEC
# tests check what OpenGSLB prints and signs against BIND's, ldns's and
# Knot's tools (dnssec-dsfromkey, delv, ldns-*, kdig) and skip without them.
DNSSEC_TOOLS = bind9-utils bind9-dnsutils ldnsutils knot-dnsutils
tools:
	@command -v gcc >/dev/null 2>&1 || { \
		echo 'installing gcc (needed by go test -race)'; \
		apt-get install -y -qq gcc >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq gcc; }; \
	}
	@{ command -v dnssec-dsfromkey && command -v delv; } >/dev/null 2>&1 || { \
		echo 'installing $(DNSSEC_TOOLS) (the DNSSEC tests compare against them)'; \
		apt-get install -y -qq $(DNSSEC_TOOLS) >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq $(DNSSEC_TOOLS); }; \
	}
	@{ command -v ip || test -x /usr/sbin/ip || test -x /sbin/ip; } >/dev/null 2>&1 || { \
		echo 'installing iproute2 (the gossip partition test builds network namespaces)'; \
		apt-get install -y -qq iproute2 >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq iproute2; }; \
	}

test: tools
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

lint:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo 'gofmt needed on:'; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./actors/...

bench-dns:
	scripts/bench-dns.sh

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzQuery -fuzztime=$(FUZZ_TIME) $(FUZZ_PKG)

clean:
	rm -rf bin
