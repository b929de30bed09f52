# The two commands a new developer needs:
#   make run    run Recall locally on embedded defaults (same as: go run ./cmd/recall serve)
#   make test   install missing test servers, then vet and run every test with the race detector
.PHONY: run test deps vet lint lint-openapi bench functions clean chaos fuzz

GO ?= go
FUNCTIONS := create get health process web
ARCH ?= arm64

run:
	$(GO) run ./cmd/recall serve

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

test: deps vet lint-openapi
	$(GO) test -race -count=1 -timeout 30m ./...

# Both CloudFormation templates through cfn-lint: template.yaml goes through
# the SAM transform (cfn-lint runs it itself), infra/recall-infra.yaml as
# is. Any error or warning fails, unless the template suppresses that check
# in its Metadata (cfn-lint: config: ignore_checks) with a comment saying why.
# LINT_REGIONS: regions whose resource specs the templates are checked
# against (samconfig.toml deploys to us-east-1).
CFN_LINT ?= cfn-lint
LINT_REGIONS ?= us-east-1
lint:
	@command -v $(CFN_LINT) >/dev/null 2>&1 || { echo "lint: $(CFN_LINT) not found; install it with: pip install cfn-lint" >&2; exit 1; }
	$(CFN_LINT) --regions $(LINT_REGIONS) -- template.yaml infra/recall-infra.yaml

# The OpenAPI document served at /api/openapi.json, linted with Redocly's
# rules (redocly.yaml); the httpapi tests check the API against it.
lint-openapi: deps
	npx --no-install redocly lint --config redocly.yaml internal/httpapi/openapi.json

# Faults, hostile input and load against real processes and servers on
# loopback (internal/chaos), at full size; prints a table of every scenario
# and fails on any loss, duplicate result or model call, resurrected
# (deleted, then found again) conversation, 500 or panic.
chaos: deps
	RECALL_CHAOS=1 RECALL_CHAOS_REPORT=chaos-report.txt $(GO) test -count=1 -v -timeout 20m ./internal/chaos

# Each fuzz target for a bounded time (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCreateRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzActionItemRequests$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzCursor$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/recall
	$(GO) test -run '^$$' -fuzz '^FuzzBearerToken$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzModelReply$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/bedrock
	$(GO) test -run '^$$' -fuzz '^FuzzAnalyze$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/extract
	$(GO) test -run '^$$' -fuzz '^FuzzFind$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./internal/duedate

bench: deps
	$(GO) test -run '^$$' -bench . -count 5 ./...

# Lambda binaries as SAM's makefile build method and `sam build` expect them:
# static, no RPC shim, named bootstrap.
functions:
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=$(ARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bin/$(ARCH)/$$f/bootstrap ./functions/$$f || exit 1; \
	done
	@ls -l bin/$(ARCH)/*/bootstrap

# SAM's makefile build method (template.yaml: BuildMethod: makefile) calls
# build-<LogicalId> with ARTIFACTS_DIR; SAM's go1.x method would add neither
# the lambda.norpc tag nor CGO_ENABLED=0, and container builds cannot see the
# go.mod above a function's directory.
# The recipes are spelled out so a test can check each one's flags.
build-CreateFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/create
build-GetFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/get
build-HealthFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/health
build-ProcessFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/process
build-WebFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/web

clean:
	rm -rf bin .aws-sam
