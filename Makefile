# goldenpcr: `make` builds and runs a demo on bundled fixtures; `make test`
# installs missing peer tools and runs every test and fuzz target.

GO        ?= go
BIN       := bin/goldenpcr
FUZZTIME  ?= 20s

.PHONY: all build demo deps test check fuzz bench clean lab man generate report-demo

all: build demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/goldenpcr

demo: build
	@echo "== goldenpcr eventlog show (PCR 7, secure-boot events of a RHEL 8 VM)"
	$(BIN) eventlog show fixtures/tcg/rhel8-uefi.bin --pcr 7
	@echo
	@echo "== goldenpcr eventlog replay, checked against the PCRs the machine's TPM reported"
	$(BIN) eventlog replay fixtures/tcg/rhel8-uefi.bin --against fixtures/tcg/rhel8-uefi.pcrs.yaml

deps:
	@scripts/deps.sh

# Go messages of the protocols goldenpcr speaks, from their .proto files:
# Debian's protoc with protoc-gen-go built from the protobuf module go.mod
# names, imports grouped as goimports does (internal/protogen). The
# generated code is checked in; cml's TestGeneratedCodeIsCurrent fails when
# it drifts.
generate:
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) run ./internal/protogen/run -plugin bin/protoc-gen-go

# Man pages, one per command, from the command tree (docs/cli.md), built with
# -tags mangen, which adds cobra/doc; bin/goldenpcr never links it.
MANDIR ?= build/man
man:
	CGO_ENABLED=0 $(GO) build -tags mangen -trimpath -o bin/goldenpcr-mangen ./cmd/goldenpcr
	bin/goldenpcr-mangen __man $(MANDIR)

# The boot lab's tests (lab/) boot real firmware under QEMU; they run when
# GOLDENPCR_LAB=1 (or CI) is set, and fail, never skip, if a package is missing.
test: export GOLDENPCR_LAB = 1
test: deps check fuzz

# internal/veraisonlegacy is its own module (legacy Veraison's corim
# library versions, one go.*.mod each), so ./... does not reach it.
check:
	$(GO) vet ./...
	$(GO) vet -tags mangen ./cmd/goldenpcr
	cd internal/veraisonlegacy && $(GO) vet . && $(GO) vet -modfile=go.2506.mod -tags corim2025 . && $(GO) vet -modfile=go.2502.mod -tags corim2024 .
	$(GO) test -count=1 ./...

# Each fuzz target runs for FUZZTIME, seeded from the fixtures.
fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

bench: deps build
	$(GO) run ./internal/benchreport -bin $(BIN)

# The boot lab (docs/lab.md): `make lab` boots every variant under QEMU with
# OVMF and swtpm and compares goldenpcr with what the firmware measured;
# `make lab UKI=path/to/uki.efi` boots your own UKI; VARIANT=uki,grub picks
# variants; CACHED=1 reuses captures whose inputs did not change.
lab: deps
	$(GO) run ./lab/cmd/goldenpcr-lab $(if $(UKI),-uki $(UKI)) $(if $(VARIANT),-variant $(VARIANT)) $(if $(CACHED),-cached)

# The README's picture of goldenpcr diff --html (docs/debugging.md): the
# browser test runs the diff command on the bundled dbx-update logs, writes
# the page into a temporary directory, opens it in headless Chromium, clicks
# PCR 7's first divergence and saves the screenshot as docs/diff-report.png.
report-demo: deps
	GOLDENPCR_REPORT_SCREENSHOT=$(CURDIR)/docs/diff-report.png $(GO) test -count=1 -run '^TestDiffHTMLInChromium$$' ./cmd/goldenpcr

clean:
	rm -rf bin
