# phpsessd — see README.md.
#   make run    the demo: PostgreSQL, phpsessd, PHP-FPM and a web front on this machine
#   make test   everything CI runs: vet, Go tests with the race detector (unit and end
#               to end through PHP-FPM and PostgreSQL), PHPUnit, composer validate
#   make fuzz   a short run of every fuzz target (FUZZTIME=10m for a long one)

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 30s

# Debian packages the tests and the demo run: PHP-FPM and the CLI, PHPUnit and
# Composer for the PHP client, PostgreSQL 15's server binaries, PgBouncer.
DEB_PACKAGES := php8.2-cli php8.2-fpm php8.2-pgsql composer phpunit postgresql-15 postgresql-client-15 pgbouncer php-symfony-http-foundation

.PHONY: all build deps test test-go test-php vet run fuzz clean bench

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/phpsessd ./cmd/phpsessd

# Installs the Debian packages that are missing (as root, or through sudo).
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

vet:
	$(GO) vet ./...
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

run: deps build
	$(GO) build -o bin/demo ./internal/cmd/demo
	bin/demo -phpsessd bin/phpsessd

# The side-by-side benchmark (issue 6): a PostgreSQL cluster with durable commits,
# phpsessd and three PHP-FPM pools (files, Symfony's PdoSessionHandler, phpsessd) under
# the same load, then the daemon's protocol throughput beside pgbench and its memory
# with 1,000 idle connections. Prints the table; writes results/<timestamp>/ and
# results/latest/ (JSON, text, SVG). About 2 minutes. BENCHFLAGS="-duration 30s" etc.
bench: deps
	$(GO) run ./internal/cmd/benchrun -out results $(BENCHFLAGS)

fuzz:
	$(GO) test ./handler/ -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./iniconf/ -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pgsess/ -run '^$$' -fuzz '^FuzzTextEncoding$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pgsess/ -run '^$$' -fuzz '^FuzzRedactDSN$$' -fuzztime $(FUZZTIME)
	@for t in $$($(GO) test ./phpserialize/ -list '^Fuzz' | grep '^Fuzz'); do \
	  $(GO) test ./phpserialize/ -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

clean:
	rm -rf bin results
