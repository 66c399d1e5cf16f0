# bosun — make help lists the targets.

GO        ?= go
BIN       := bin/bosun
RUN_DIR   := .run
LISTEN    ?= :6443
GOFLAGS_BUILD := -trimpath
TEST_TIMEOUT  ?= 14m
PKGS      := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install missing system packages (git, containerd, runc, CNI plugins, iptables, gnupg, kubectl) with apt-get.
	@hack/deps.sh

.PHONY: build
build: ## Build bin/bosun.
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/bosun

.PHONY: run
run: deps build images ## Run bosun server (control plane + node agent) on examples/repo, copied into .run/repo as a fresh Git repository.
	@hack/run.sh "$(BIN)" "$(RUN_DIR)" "$(LISTEN)"

.PHONY: test
test: deps ## Run every test: unit tests and end-to-end tests (real etcd, git, containerd, CNI, iptables; root parts need root).
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 $(PKGS)

.PHONY: test-short
test-short: ## Run the unit tests only.
	$(GO) test -short -count=1 $(PKGS)

.PHONY: bench
bench: ## Run the benchmarks that BENCHMARKS.md quotes and print their figures.
	@hack/bench.sh

.PHONY: fuzz
fuzz: ## Run every Fuzz* target in the repository (found by grep, so new fuzzers join by themselves) for FUZZTIME each (default 60s).
	@set -e; found=0; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  pkg=./$$(dirname $${f#./}); \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    found=$$((found+1)); echo "== $$pkg $$name ($${FUZZTIME:-60s})"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $${FUZZTIME:-60s} -fuzzminimizetime 1s; \
	  done; \
	done; \
	echo "fuzz: $$found fuzz targets ran"

SOAK_ROUNDS ?= 1000
SOAK_TIMEOUT ?= 3h
SOAK_RUN ?= ^TestKill

.PHONY: soak
soak: build ## Fault-injection soak: test/fault with SOAK_ROUNDS (1000) kill -9 rounds of the server during a sync, and longer agent/containerd churn.
	SOAK_ROUNDS=$(SOAK_ROUNDS) $(GO) test ./test/fault -run '$(SOAK_RUN)' -count=1 -v -timeout $(SOAK_TIMEOUT)

.PHONY: verify
verify: ## gofmt, go vet, and go mod tidy must leave the tree unchanged.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@cp go.mod /tmp/bosun-go.mod.bak; cp go.sum /tmp/bosun-go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go mod tidy changed go.mod/go.sum"; git diff --stat -- go.mod go.sum; \
	  cp /tmp/bosun-go.mod.bak go.mod; cp /tmp/bosun-go.sum.bak go.sum; exit 1; fi

.PHONY: clean
clean: ## Stop a running make run, remove its pods, network namespaces, network and iptables chains, then remove .run/ and bin/.
	@hack/stop-run.sh "$(BIN)" "$(RUN_DIR)"
	@if [ -d $(RUN_DIR)/data ] && [ -x $(BIN) ]; then $(BIN) agent --cleanup --data-dir $(RUN_DIR)/data; fi
	rm -rf bin $(RUN_DIR)

.PHONY: bench-scale
bench-scale: ## Issue 3's scale run: 100 Deployments x 300 replicas on 1,000 hollow nodes (SCALE_NODES, SCALE_DEPLOYMENTS, SCALE_REPLICAS; SCALE_MEMBERS=3 on three joined servers).
	BOSUN_SCALE=1 $(GO) test ./test/scale -run TestScale -count=1 -v -timeout 30m

.PHONY: bench-ha
bench-ha: ## Issue 12's HA figures: commit -> API visible with 3 etcd members vs 1, and failover (kill -9 of the sync leader -> next commit synced), median of HA_KILLS (10).
	BOSUN_HA_BENCH=1 $(GO) test ./test/ha -run TestBenchHA -count=1 -v -timeout 30m

.PHONY: images
images: ## Build the example images (bosun.local/hello:v1, :v2, :broken) into bin/images/.
	$(GO) run ./hack/mkimage -out bin/images
