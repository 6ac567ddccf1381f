# fazt: one binary. `make run` builds and mounts it; `make test` runs everything.
# See README.md.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/fazt
MNT       ?= $(CURDIR)/mnt
# One tag set everywhere: mattn/go-sqlite3 recompiles (70-100 s) when it changes.
TAGS      :=
GOFLAGS_T := -tags '$(TAGS)'
# Packages whose concurrency the race detector checks (a separate step: -race
# rebuilds SQLite).
RACE_PKGS := ./kernel/... ./storage/... ./vfs/... ./ctl/... ./mount/... ./api/... ./net/... ./proc/... ./driver/... ./security/...

export CGO_ENABLED := 1
# SQLite's sqlite_dbpage table, which mattn/go-sqlite3 leaves out: a
# follower applies the primary's replicated pages through it (storage/pages.go).
# One flag set everywhere, like the tags (Go's default -O2 -g kept).
export CGO_CFLAGS := -O2 -g -DSQLITE_ENABLE_DBPAGE_VTAB

.PHONY: all build run run-deps stop deps tools check vet fmt-check test unit race e2e conformance conformance-deps bench-fs bench-ctl bench-http bench-backup bench-deploy bench-upgrade bench-replica clean

all: build

build:
	$(GO) build $(GOFLAGS_T) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/fazt

# Build, then mount the tree (data in $$FAZT_HOME or ~/.local/share/fazt) at
# ./mnt. HTTP=ADDR (and HTTPS=ADDR) choose where the sites are served
# (default :8080 and :8443). If the HTTP port is taken by another program,
# run fails with the reason, unmounted, rather than leave curl talking to
# that program.
HTTP  ?=
HTTPS ?=
run: run-deps
	@if [ ! -x $(BIN) ]; then echo "building $(BIN): the first build compiles SQLite's C code, about 2-6 minutes on 2 cores (later builds take seconds)..."; fi
	@$(MAKE) --no-print-directory build
	@$(BIN) fs umount $(MNT) >/dev/null 2>&1 || true
	@$(BIN) fs mount $(MNT) >/dev/null
	@if [ -n "$(HTTP)" ]; then echo "$(HTTP)" > $(MNT)/net/http; fi
	@if [ -n "$(HTTPS)" ]; then echo "$(HTTPS)" > $(MNT)/net/https; fi
	@st=$$(cat $(MNT)/proc/status); \
	err=$$(echo "$$st" | sed -n 's/^net_http_error //p'); addr=$$(echo "$$st" | sed -n 's/^net_http_addr //p'); \
	herr=$$(echo "$$st" | sed -n 's/^net_https_error //p'); \
	if [ "$$err" != "-" ]; then \
		echo; echo "*** fazt cannot serve HTTP: $$err"; \
		echo "*** another program holds that port; pick a free one: make run HTTP=:8081"; \
		$(BIN) fs umount $(MNT) >/dev/null 2>&1; exit 1; \
	fi; \
	if [ "$$herr" != "-" ]; then echo "warning: HTTPS is not served: $$herr (make run HTTPS=:8444 picks another port)"; fi; \
	port=$${addr##*:}; \
	echo "The tree is mounted at $(MNT) (ls $(MNT))."; \
	echo "Sites are served at http://HOST.localhost:$$port/ once a route names them:"; \
	echo "  rsync -a examples/site/ $(MNT)/fs/blog/ && echo blog > $(MNT)/net/routes/blog.localhost && curl http://blog.localhost:$$port/"; \
	echo "Unmount with: make stop"

# What make run and the README's first steps use: fuse3 (fusermount3, for
# users other than root), rsync and curl.
run-deps:
	@$(call need,fusermount3:fuse3 rsync:rsync curl:curl)

stop:
	$(BIN) fs umount $(MNT)

# need installs, with apt, the Debian package of each command (or absolute
# path) that is missing: $(call need,COMMAND:PACKAGE /PATH:PACKAGE ...).
need = missing=""; \
	for cp in $(1); do c="$${cp%%:*}"; \
		case "$$c" in /*) [ -e "$$c" ] ;; *) command -v "$$c" >/dev/null ;; esac || missing="$$missing $${cp\#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Debian packages the tests drive: fuse3 (fusermount3), rsync, curl, setpriv and flock,
# rclone (a WebDAV client of the remote API), systemd (systemd-analyze verify
# checks the unit fazt proc install writes; systemd need not be running).
deps:
	@$(call need,fusermount3:fuse3 rsync:rsync curl:curl setpriv:util-linux flock:util-linux rclone:rclone systemd-analyze:systemd)

# Go tools the tests run, pinned, built into bin/: Let's Encrypt's Pebble (a
# real ACME server) and its DNS server; versitygw (a real S3 server that
# checks signatures, storing objects in a directory).
PEBBLE_VERSION := v2.10.1
VERSITYGW_VERSION := v1.8.0
PEBBLE_TOOLS := bin/pebble bin/pebble-challtestsrv
TOOLS := $(PEBBLE_TOOLS) bin/versitygw
tools: $(TOOLS)
$(PEBBLE_TOOLS):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/letsencrypt/pebble/v2/cmd/$(notdir $@)@$(PEBBLE_VERSION)
bin/versitygw:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

vet:
	$(GO) vet $(GOFLAGS_T) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The whole suite: what CI runs. Every step runs even if one fails; each
# prints its time, and the summary names the failures and anything a test
# left behind (test/suite.sh).
test: deps tools conformance-deps
	@bash test/suite.sh fmt-check vet unit race conformance

# The tests of several machines (test/e2e: edges, standbys, failover) spend
# most of their time waiting for leases and replication: they run beside the
# rest, in a go test of their own (-run and -skip of one pattern: each test
# runs once).
CLUSTER_TESTS := ^(TestEdge|TestTokensOnAnEdge|TestStandby|TestPausedPrimary|TestBecomeAnEdge|TestTakeOver|TestTwoStandbys)

unit:
	@$(GO) test $(GOFLAGS_T) -count=1 -run '$(CLUSTER_TESTS)' ./test/e2e/ & cluster=$$!; \
	$(GO) test $(GOFLAGS_T) -count=1 -skip '$(CLUSTER_TESTS)' ./...; rest=$$?; \
	wait $$cluster; cl=$$?; \
	[ $$cl = 0 ] || echo "unit: the tests of several machines FAILED"; \
	[ $$rest = 0 ] && [ $$cl = 0 ]

race:
	$(GO) test $(GOFLAGS_T) -race -count=1 $(RACE_PKGS)

e2e: deps tools
	$(GO) test $(GOFLAGS_T) -count=1 -v ./test/e2e/

# pjdfstest, the POSIX file system suite, inside /fs of a fresh mount
# (test/conformance/pjdfstest.sh; about 5 minutes). It is built from the
# pinned source in test/conformance with autoconf, automake and gcc, and
# run with perl's prove.
conformance: deps conformance-deps build
	@bash test/conformance/pjdfstest.sh

conformance-deps:
	@$(call need,autoreconf:autoconf automake:automake gcc:gcc prove:perl)

# fazt's mount against go-fuse's loopback, JuiceFS (SQLite metadata, built
# pinned from the module proxy) and the bare disk, as ratios.
bench-fs: deps build bin/juicefs
	@$(call need,fio:fio git:git autoreconf:autoconf automake:automake gcc:gcc)
	$(GO) run $(GOFLAGS_T) ./bench/fsbench -fazt $(BIN) -juicefs bin/juicefs $(BENCHFLAGS)

# JuiceFS for bench-fs, built from its module (its go.mod replaces modules,
# so go install cannot build it) without the object stores it does not use.
JUICEFS_VERSION := v1.4.1
JUICEFS_TAGS := noazure nob2 nobadger nobos nocifs nocos nodragonfly noetcd nogateway nogs nogspt nohdfs noibmcos noks3 nomysql nonfs noobs nooss nopg noqingstor noqiniu noredis nosftp nostorj noswift notikv notos noufile nowebdav
bin/juicefs:
	@echo "building JuiceFS $(JUICEFS_VERSION) for bench-fs (a few minutes, once)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && \
	src=$$($(GO) mod download -json github.com/juicedata/juicefs@$(JUICEFS_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p') && \
	cp -r "$$src/." build && chmod -R u+w build && cd build && \
	$(GO) build -tags '$(JUICEFS_TAGS)' -o $(CURDIR)/$@ .

# Control-plane latencies: writes and reads through the mount, the API, the CLI.
bench-ctl: deps build
	$(GO) run $(GOFLAGS_T) ./bench/ctlbench -fazt $(BIN) $(BENCHFLAGS)

# Serving files over HTTP: fazt against Caddy's file_server and nginx, with wrk:
# three files, and Python's HTML documentation as a real multi-file site.
bench-http: deps build
	@$(call need,wrk:wrk nginx:nginx caddy:caddy /usr/share/doc/python3/html/index.html:python3-doc)
	$(GO) run $(GOFLAGS_T) ./bench/httpbench -fazt $(BIN) $(BENCHFLAGS)

# Backups to a real S3 server on loopback: a backup on demand and a restore of a
# 100 MB and a 1 GB database against moving the same bytes by hand, and the
# replication lag under a steady write load.
bench-backup: deps tools build
	$(GO) run $(GOFLAGS_T) ./bench/backupbench -fazt $(BIN) -versitygw bin/versitygw $(BENCHFLAGS)

# Edges (docs/scaling.md): a primary on versitygw and an edge following it;
# lag from a deploy to the edge serving it under deploys and route writes,
# and the edge's HTTP rate against the primary's, with wrk.
bench-replica: deps tools build
	@$(call need,wrk:wrk)
	$(GO) run $(GOFLAGS_T) ./bench/replicabench -fazt $(BIN) -versitygw bin/versitygw $(BENCHFLAGS)

# Deploys of a 4,000-file, 50 MB site: fazt fs sync local and remote against
# rsync into the mount, rsync over SSH and rclone over WebDAV.
bench-deploy: deps build
	@$(call need,sshd:openssh-server)
	$(GO) run $(GOFLAGS_T) ./bench/deploybench -fazt $(BIN) $(BENCHFLAGS)

# Replacing the kernel under load: fazt proc upgrade (sockets handed over)
# against fazt proc restart (stop, then start).
bench-upgrade: deps build
	$(GO) run $(GOFLAGS_T) ./bench/upgradebench -fazt $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
