# phpsessd — see README.md.
#   make run    the demo: PostgreSQL, phpsessd, PHP-FPM and a web front on this machine
#   make build  bin/phpsessd (needs the Go release of go.mod's go line, see README.md)
#   make test   everything CI runs: vet, Go tests with the race detector (unit and end
#               to end through PHP-FPM and PostgreSQL), PHPUnit, composer validate
#   make fuzz   a short run of every fuzz target (FUZZTIME=10m for a long one)

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 30s

# Debian packages the tests and the benchmark run: PHP-FPM and the CLI, PHPUnit and
# Composer for the PHP client, PostgreSQL 15's server binaries, PgBouncer, Symfony's
# session handler, pg_auto_failover (the HA test), headless Chromium and its WebDriver
# (the make run page's test). The demo needs only DEMO_PACKAGES (its page reads the
# table with php8.2-pgsql).
DEB_PACKAGES := php8.2-cli php8.2-fpm php8.2-pgsql composer phpunit postgresql-15 postgresql-client-15 pgbouncer php-symfony-http-foundation postgresql-15-auto-failover pg-auto-failover-cli chromium chromium-driver
DEMO_PACKAGES := php8.2-fpm php8.2-pgsql postgresql-15 postgresql-client-15
# The system services those packages enable on installation. Tests, benchmark and demo
# start private servers of their own, so make disables and stops again each of these
# that its installation enabled (and says so); services enabled before stay as they are.
DEB_SERVICES := php8.2-fpm postgresql pgbouncer

# The Go release go.mod asks for (its go line).
GO_NEEDED := $(shell awk '$$1 == "go" { print $$2 }' go.mod)

.PHONY: all build deps deps-demo check-go test test-go test-php vet run fuzz clean bench

all: build

build: check-go
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/phpsessd ./cmd/phpsessd

# Fails with what to do when Go is missing or older than go.mod's go line (Debian 12's
# golang package is Go 1.19).
check-go:
	@have=$$($(GO) env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9][0-9.]*\).*/\1/p'); \
	if [ -z "$$have" ]; then \
	  echo "make: no usable Go ($(GO)): phpsessd needs Go $(GO_NEEDED) or later. Install it from https://go.dev/dl/ (README.md, Install)." >&2; exit 1; \
	fi; \
	if ! printf '%s\n%s\n' "$(GO_NEEDED)" "$$have" | sort -V -C; then \
	  echo "make: Go $$have is too old: phpsessd needs Go $(GO_NEEDED) or later (go.mod). Debian 12's golang package is Go 1.19;" >&2; \
	  echo "      install Go from https://go.dev/dl/ and put /usr/local/go/bin first in PATH (README.md, Install)." >&2; exit 1; \
	fi

# install_missing installs the Debian packages of $(1) that are missing (as root, or
# through sudo), then disables and stops the services of DEB_SERVICES that the
# installation enabled.
define install_missing
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  before=""; for u in $(DEB_SERVICES); do systemctl is-enabled -q $$u.service 2>/dev/null && before="$$before $$u"; done; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	  for u in $(DEB_SERVICES); do \
	    case " $$before " in *" $$u "*) continue;; esac; \
	    systemctl is-enabled -q $$u.service 2>/dev/null || continue; \
	    $$sudo systemctl disable -q --now $$u.service 2>/dev/null || $$sudo systemctl disable -q $$u.service; \
	    echo "disabled (and stopped) $$u.service, which installing its package enabled: nothing here needs it (systemctl enable --now $$u to use it)"; \
	  done; \
	fi
endef

deps: check-go
	$(call install_missing,$(DEB_PACKAGES))

deps-demo: check-go
	$(call install_missing,$(DEMO_PACKAGES))

# staticcheck, pinned, fetched through the Go module proxy by go run.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

test: deps vet test-go test-php

# One throw-away PostgreSQL cluster for all packages, removed however the tests end;
# each test makes its own database in it.
test-go:
	$(GO) run ./internal/cmd/withpg -- $(GO) test -race -timeout 20m ./...

test-php:
	phpunit -c php-client/phpunit.xml.dist
	cd php-client && COMPOSER_DISABLE_NETWORK=1 composer validate --strict --no-interaction

run: deps-demo build
	$(GO) build -o bin/demo ./internal/cmd/demo
	bin/demo -phpsessd bin/phpsessd

# The side-by-side benchmark: a PostgreSQL cluster with durable commits, phpsessd, the
# reference in-memory daemon and four PHP-FPM pools (files, Symfony's
# PdoSessionHandler, the PHP client over the in-memory daemon and over phpsessd) under
# the same load, with the CPU per request of every process group, a shared row of
# two phpsessd daemons on one database, phpsessd's CPU profile and callgrind's count
# of PHP's instructions per request; then the daemon's protocol throughput beside
# pgbench and its memory with 1,000 idle connections. Prints the table; writes
# results/<timestamp>/ and results/latest/ (JSON, text, SVG, profiles). About 3
# minutes. BENCHFLAGS="-duration 30s" etc. It also needs valgrind.
bench: DEB_PACKAGES += valgrind
bench: deps
	$(GO) run ./internal/cmd/benchrun -out results $(BENCHFLAGS)

fuzz:
	$(GO) test ./handler/ -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./handler/ -run '^$$' -fuzz '^FuzzParseSessionFilter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./iniconf/ -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pgsess/ -run '^$$' -fuzz '^FuzzTextEncoding$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pgsess/ -run '^$$' -fuzz '^FuzzRedactDSN$$' -fuzztime $(FUZZTIME)
	@for t in $$($(GO) test ./phpserialize/ -list '^Fuzz' | grep '^Fuzz'); do \
	  $(GO) test ./phpserialize/ -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

clean:
	rm -rf bin results
