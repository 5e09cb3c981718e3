# sendonce — see README.md. Every target provisions what it needs.
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build demo test test-short lint chaos bench mutate services-up services-down clean images images-push

all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/producer ./producer
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/sender ./sender
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/retrier ./retrier

# Container images of the three services: multi-stage builds of a static
# binary on distroless, non-root (65532), base images pinned by digest (see
# the Dockerfiles). Name them with IMAGE_REPO and IMAGE_TAG:
#   make images IMAGE_REPO=123456789012.dkr.ecr.eu-west-1.amazonaws.com/sendonce IMAGE_TAG=1.0.1
# Push them (log in first, e.g. aws ecr get-login-password | docker login
# --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com):
#   make images-push IMAGE_REPO=... IMAGE_TAG=1.0.1
# then pin them in the production overlay, by digest when you can:
#   cd deploy/overlays/production && kustomize edit set image \
#     ghcr.io/sendonce/sender=$$IMAGE_REPO/sender:1.0.1 ghcr.io/sendonce/retrier=... ghcr.io/sendonce/producer=...
# DOCKER=podman works too.
IMAGE_REPO ?= ghcr.io/sendonce
IMAGE_TAG  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DOCKER     ?= docker
IMAGES     := producer sender retrier

images: $(IMAGES:%=image-%)

image-%:
	$(DOCKER) build -f $*/Dockerfile -t $(IMAGE_REPO)/$*:$(IMAGE_TAG) .

images-push: $(IMAGES:%=push-%)

push-%: image-%
	$(DOCKER) push $(IMAGE_REPO)/$*:$(IMAGE_TAG)

# The whole pipeline in one process on embedded Kafka (kfake), Redis
# (miniredis) and a local SES endpoint. Needs only Go.
demo:
	$(GO) run ./scripts/demo $(DEMO_FLAGS)

# Unit tests and integration tests against a real Kafka broker, Redis, the
# SES v2 emulator and moto, which scripts/services.sh provisions and starts in
# a state dir of this clone's own (.cache/services-test) on free ports, and
# stops at the end, even when a test fails or on Ctrl-C: nothing is left
# listening, and two clones can run `make test` at the same time.
#   KEEP_SERVICES=1 make test   keeps them running; the next run reuses them
#   (SENDONCE_SERVICES_DIR=.cache/services-test scripts/services.sh down stops them).
# With KAFKA_BROKERS / REDIS_URL / AWS_ENDPOINT_URL_SESV2 / AWS_ENDPOINT_URL_S3
# set (eval "$$(scripts/services.sh env)"), those services are used instead.
# scripts/test.sh runs the fault test (scripts/chaos) after the other
# packages, on its own.
TEST_SERVICES_DIR ?= $(CURDIR)/.cache/services-test
test: build
	SENDONCE_SERVICES_DIR="$(TEST_SERVICES_DIR)" SENDONCE_FREE_PORTS=$${SENDONCE_FREE_PORTS:-1} \
	  GO=$(GO) scripts/services.sh run scripts/test.sh $(PKGS)

# Unit tests only (integration tests skip under -short).
test-short:
	$(GO) test -short -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

# The fault-injection test at full size (20,000 users, graceful and hard).
chaos: build
	scripts/services.sh up >/dev/null
	eval "$$(scripts/services.sh env)" && SENDONCE_CHAOS_USERS=$${SENDONCE_CHAOS_USERS:-20000} $(GO) test -count=1 -timeout 60m -run 'TestChaos' -v ./scripts/chaos/

# Break each key line of the guarantee in a scratch copy and show that a
# test fails (scripts/mutate/mutate.sh lists the lines). Needs only Go.
mutate:
	scripts/mutate/mutate.sh

bench: build
	scripts/services.sh up >/dev/null
	eval "$$(scripts/services.sh env)" && $(GO) run ./scripts/bench $(BENCH_FLAGS)

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

clean:
	rm -rf bin outbox
