# Keyserver: `make run` starts the local stack, `make test` tests everything.
GO      ?= go
BUILD   := build
LOCAL   := .local
AZURITE := tools/azurite/node_modules/.bin/azurite-table
MODULE  := $(BUILD)/libpkcs11ks.so
GOFILES := $(shell find . -name '*.go' -not -path './tools/*' -not -path './ui/node_modules/*' 2>/dev/null) $(shell find internal/webui/dist -type f 2>/dev/null)

export CGO_ENABLED := 1

.PHONY: all deps tools build pkcs11 ks test run funcapp deploy bench clean ui ui-check

all: build pkcs11 ks

# System packages (apt) when missing.
deps:
	@bash scripts/install-deps.sh

# Azurite, pinned in tools/azurite/package-lock.json.
tools: $(AZURITE)
$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	cd tools/azurite && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The web UI's toolchain (esbuild, TypeScript) and the browser tests' driver
# (playwright-core), pinned in ui/package-lock.json.
UI_MODULES := ui/node_modules/.package-lock.json
$(UI_MODULES): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The built web UI is committed in internal/webui/dist, so that go build works
# without npm; `make ui` rebuilds it from ui/src after a change there.
ui: $(UI_MODULES)
	cd ui && npm run --silent typecheck && node build.mjs

# Fails when the committed build differs from what ui/src builds to.
ui-check: $(UI_MODULES)
	cd ui && npm run --silent typecheck
	cd ui && node build.mjs --out $(CURDIR)/$(BUILD)/ui-check
	@diff -r internal/webui/dist $(BUILD)/ui-check >/dev/null || { diff -rq internal/webui/dist $(BUILD)/ui-check; \
	  echo "ui-check: internal/webui/dist is not the build of ui/src; run make ui and commit it" >&2; exit 1; }

build: $(BUILD)/handler $(BUILD)/localstack $(BUILD)/devauth $(BUILD)/hsmfake

$(BUILD)/%: $(GOFILES) go.mod go.sum
	$(GO) build -o $@ ./$(if $(filter handler,$*),handler,cmd/$*)

# The ks CLI for build agents: one static binary (no cgo), like the module a
# single file to copy onto an agent.
ks: $(BUILD)/ks
$(BUILD)/ks: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./cmd/ks

# The PKCS#11 module: only the C_* entry points are exported.
pkcs11: $(MODULE)
$(MODULE): $(GOFILES) $(wildcard pkcs11client/*.c) pkcs11client/exports.map pkcs11client/build.sh go.mod go.sum
	bash pkcs11client/build.sh $@

test: deps tools pkcs11 ks ui-check
	$(GO) vet ./...
	KS_PKCS11_MODULE=$(CURDIR)/$(MODULE) KS_CLI=$(CURDIR)/$(BUILD)/ks $(GO) test -count=1 -timeout 45m ./...

# The whole local stack in the foreground, until Ctrl-C.
run: deps tools build pkcs11 ks
	$(BUILD)/localstack -dir $(LOCAL) -handler $(BUILD)/handler

# The folder `func start` and a deployment use: host.json, one folder per
# function and the linux/amd64 handler binary.
funcapp:
	rm -rf .funcapp && mkdir -p .funcapp
	cp host.json .funcapp/
	for d in functions/*/; do cp -r "$$d" .funcapp/; done
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o .funcapp/handler ./handler
	chmod +x .funcapp/handler

deploy: funcapp
	bash infra/deploy.sh

bench: deps tools build pkcs11
	$(GO) run ./cmd/bench -dir $(BUILD)/bench -handler $(BUILD)/handler -module $(MODULE)

clean:
	rm -rf $(BUILD) .funcapp
