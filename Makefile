# The two commands a new developer needs:
#   make run    run Recall locally on embedded defaults (same as: go run ./cmd/recall serve)
#   make test   install missing test servers, then vet and run every test with the race detector
.PHONY: run test deps vet bench functions clean

GO ?= go
FUNCTIONS := create get health process
ARCH ?= arm64

run:
	$(GO) run ./cmd/recall serve

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

test: deps vet
	$(GO) test -race -count=1 -timeout 30m ./...

bench: deps
	$(GO) test -run '^$$' -bench . -count 5 ./...

# Lambda binaries as SAM's makefile build method and `sam build` expect them:
# static, no RPC shim, named bootstrap.
functions:
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=$(ARCH) CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bin/$(ARCH)/$$f/bootstrap ./functions/$$f || exit 1; \
	done
	@ls -l bin/$(ARCH)/*/bootstrap

clean:
	rm -rf bin .aws-sam
