# SPDX-License-Identifier: GPL-2.0-or-later
#
# Entry points of the auto-balloon QEMU project.
#
#   make          fetch QEMU 10.0.x, assemble overlay + patches, build
#   make check    install missing dependencies, build, run all tests
#   make demo     build, make a Debian guest, balloon it under real
#                 host pressure (root: memcg + swap file)
#   make bench    benchmarks that print figures (incl. a short over-commit run)
#   make bench-overcommit   full over-commit comparison (<30 min, 2 cores)
#   make bench-psi  PSI against vmpressure under the same host pressure
#                 (root, hybrid cgroups; about 10 min)
#   make check-sanitizers   the same tests against a second QEMU build
#                 with AddressSanitizer and UndefinedBehaviorSanitizer
#   make checkpatch   QEMU's checkpatch.pl on our new files and patches
#   make guest-6.12, make check-guest-6.12   the test guest on Debian 12's
#                 linux 6.12, and the companion-driver tests against it
#   make memload  the benchmark's memory workload (static), build/memload
#   make fuzz     build the libFuzzer target with clang (separate build,
#                 build/fuzz/) and run it on the committed corpus
#                 (FUZZ_SECONDS, FUZZ_RUNS, FUZZ_JOBS, FUZZ_ARGS)
#   make fuzz-merge   minimise the committed corpus with what fuzz found

SHELL := /bin/bash
# No __pycache__ in the overlay directories (assemble copies them).
export PYTHONDONTWRITEBYTECODE := 1
-include config.mk
BUILD_DIR ?= build
QEMU_SRC ?=

BUILD := $(abspath $(BUILD_DIR))
CACHE := $(CURDIR)/.cache/qemu
TREE := $(BUILD)/qemu
QBUILD := $(BUILD)/qemu-build
GUEST := $(BUILD)/guest
MEMLOAD := $(BUILD)/memload

# Options for QEMU's configure: the x86_64 system emulator with TCG, KVM
# and qtest, nothing graphical.  /usr/bin/python3 so that meson and pycotap
# from Debian are seen (a python3 first in PATH may be another install).
QEMU_CONFIGURE_FLAGS := --target-list=x86_64-softmmu \
	--python=/usr/bin/python3 --disable-docs --disable-werror \
	--disable-download --disable-install-blobs --enable-tcg --enable-kvm \
	--disable-user --disable-tools --disable-gtk --disable-sdl \
	--disable-vnc --disable-spice --disable-opengl --disable-curses \
	--disable-xen --disable-rust --disable-slirp

# Everything `make check` needs from the QEMU build.
QEMU_TARGETS := qemu-system-x86_64 \
	tests/qtest/virtio-balloon-test tests/qtest/qos-test \
	$(shell sed -n \
		's/^\(qtest\|unit\)[[:space:]]\+\([^[:space:]]\+\).*/\2/p' \
		scripts/check-tests.list | sort -u)

.PHONY: all build deps fetch assemble check demo bench bench-overcommit \
	bench-psi guest guest-6.12 check-guest-6.12 memload checkpatch clean \
	distclean fuzz fuzz-build fuzz-merge build-sanitizers check-sanitizers
all: build

config.mk:
	./configure

deps:
	scripts/install-deps.sh

# The pristine tree: --qemu-src, or Debian's source package (cached).
$(BUILD)/pristine-path: config.mk
	@mkdir -p $(BUILD)
	@if [ -n "$(QEMU_SRC)" ]; then echo "$(QEMU_SRC)"; \
	 else scripts/fetch-qemu.sh $(CACHE); fi > $@.tmp
	@mv $@.tmp $@
	@echo "QEMU $$(cat $$(cat $@)/VERSION) from $$(cat $@)" \
		| tee $(BUILD)/qemu-version

fetch: $(BUILD)/pristine-path

assemble: $(BUILD)/pristine-path
	@scripts/assemble.sh "$$(cat $<)" $(TREE)

$(QBUILD)/build.ninja: | assemble
	rm -rf $(QBUILD) && mkdir -p $(QBUILD)
	cd $(QBUILD) && $(TREE)/configure $(QEMU_CONFIGURE_FLAGS)

build: assemble $(QBUILD)/build.ninja
	ninja -C $(QBUILD) $(QEMU_TARGETS)
	scripts/install-firmware.sh $(QBUILD)
	@echo "Built $(QBUILD)/qemu-system-x86_64 ($$(cat $(BUILD)/qemu-version))"

# The functional tests boot the test guest; they find it through
# AUTOBALLOON_GUEST_DIR (and skip, saying so, without it).
check: export AUTOBALLOON_GUEST_DIR := $(GUEST)
check: deps guest
	$(MAKE) build memload
	MEMLOAD=$(MEMLOAD) scripts/run-tests.sh $(QBUILD) scripts/check-tests.list

# The sanitizer build: the same tree and targets in a directory of its
# own, with QEMU's --enable-asan --enable-ubsan.  UBSan findings abort
# (-fno-sanitize-recover=undefined, as QEMU's clang-system CI job) even
# in a QEMU that libvirt starts with an environment of its own; frame
# pointers give whole stacks in the reports.
SAN_QBUILD := $(BUILD)/qemu-san-build
QEMU_SAN_FLAGS := --enable-asan --enable-ubsan \
	--extra-cflags=-fno-sanitize-recover=undefined \
	--extra-cflags=-fno-omit-frame-pointer

$(SAN_QBUILD)/build.ninja: | assemble
	rm -rf $(SAN_QBUILD) && mkdir -p $(SAN_QBUILD)
	cd $(SAN_QBUILD) && \
		$(TREE)/configure $(QEMU_CONFIGURE_FLAGS) $(QEMU_SAN_FLAGS)

build-sanitizers: assemble $(SAN_QBUILD)/build.ninja
	ninja -C $(SAN_QBUILD) $(QEMU_TARGETS)
	scripts/install-firmware.sh $(SAN_QBUILD)
	@echo "Built $(SAN_QBUILD)/qemu-system-x86_64 with ASan and UBSan"

# Every test of `make check`, every sanitizer finding fatal and collected
# (scripts/check-sanitizers.sh, which says which options it sets).
check-sanitizers: export AUTOBALLOON_GUEST_DIR := $(GUEST)
check-sanitizers: deps guest
	$(MAKE) build-sanitizers memload
	MEMLOAD=$(MEMLOAD) scripts/check-sanitizers.sh $(SAN_QBUILD) \
		scripts/check-tests.list

# The test guest: Debian's cloud kernel, busybox and the memload workload.
.PHONY: guest
guest: deps
	scripts/build-guest.sh $(GUEST)

# The same guest on Debian 12's linux 6.12 (patches/linux/6.12), and the
# companion-driver functional tests against it (patches/linux/README).
GUEST612 := $(BUILD)/guest-6.12
COMPANION_TESTS := test_message_queue_index test_companion_growth_deflates \
	test_companion_pressure_escalates
.PHONY: guest-6.12 check-guest-6.12
guest-6.12: deps
	GUEST_KERNEL=6.12 scripts/build-guest.sh $(GUEST612)

check-guest-6.12: guest-6.12
	$(MAKE) build
	cd $(QBUILD) && AUTOBALLOON_GUEST_DIR=$(GUEST612) \
		QEMU_TEST_QEMU_BINARY=$(QBUILD)/qemu-system-x86_64 \
		QEMU_BUILD_ROOT=$(QBUILD) \
		PYTHONPATH=$(TREE)/python:$(TREE)/tests/functional \
		/usr/bin/python3 -m unittest -v $(addprefix \
		test_x86_64_virtio_balloon_auto.VirtioBalloonAutoX86.,$\
		$(COMPANION_TESTS))

demo: deps
	$(MAKE) build guest
	/usr/bin/python3 scripts/demo.py --qemu $(QBUILD)/qemu-system-x86_64 \
		--firmware $(QBUILD)/pc-bios --guest-dir $(GUEST) \
		--qemu-python $(TREE)/python

# The over-commit benchmark (bench/overcommit.py): real guests in one
# memory cgroup, every row side by side.  OVERCOMMIT_ARGS adds options
# (e.g. --repeat 3, --scenarios rfc); results go to $(OVERCOMMIT_OUT).
OVERCOMMIT_OUT ?= $(BUILD)/overcommit
OVERCOMMIT = /usr/bin/python3 bench/overcommit.py \
	--qemu $(QBUILD)/qemu-system-x86_64 --firmware $(QBUILD)/pc-bios \
	--qemu-python $(TREE)/python --guest-dir $(GUEST)

bench-overcommit: deps
	$(MAKE) build guest
	$(OVERCOMMIT) --out $(OVERCOMMIT_OUT) $(OVERCOMMIT_ARGS)

# PSI against vmpressure (bench/psi_vs_vmpressure.py): one guest, one
# host hog, the same pressure watched by both sources.  PSI_ARGS adds
# options (e.g. --repeat 5); results go to $(PSI_OUT).
PSI_OUT ?= $(BUILD)/psi-vs-vmpressure
bench-psi: deps
	$(MAKE) build guest
	/usr/bin/python3 bench/psi_vs_vmpressure.py \
		--qemu $(QBUILD)/qemu-system-x86_64 --firmware $(QBUILD)/pc-bios \
		--qemu-python $(TREE)/python --guest-dir $(GUEST) \
		--out $(PSI_OUT) $(PSI_ARGS)

bench: deps
	$(MAKE) build guest
	cd $(QBUILD) && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
		tests/qtest/virtio-balloon-auto-test -m perf \
		-p /x86_64/virtio-balloon-auto/bench
	bench/idle-wakeups.sh $(QBUILD)/qemu-system-x86_64
	@echo "Short over-commit run (idle scenario, 10 s phases):"
	$(OVERCOMMIT) --scenarios idle --rows none,fpr,auto --phase-s 10 \
		--out $(BUILD)/overcommit-short

memload: $(MEMLOAD)

$(MEMLOAD): bench/workload/memload.c bench/workload/build-memload.sh
	@mkdir -p $(BUILD)
	bench/workload/build-memload.sh $@

# The fuzzer: its own tree and clang build with ASan and UBSan, so that
# make check never needs clang.  FUZZ_DIR holds them and the fuzzer's
# work (new inputs, crashes, log); see scripts/fuzz.sh for the variables.
FUZZ_DIR ?= $(BUILD)/fuzz
FUZZ_TREE := $(FUZZ_DIR)/qemu
FUZZ_QBUILD := $(FUZZ_DIR)/qemu-build
FUZZ_BIN := $(FUZZ_QBUILD)/qemu-fuzz-x86_64
FUZZ_CORPUS := $(CURDIR)/tests/qtest/fuzz/virtio-balloon-auto.corpus
# FUZZ_SANITIZERS=--enable-ubsan (with its own FUZZ_DIR) builds a fuzzer
# without AddressSanitizer, about 1.5 times as fast, for long runs.
FUZZ_SANITIZERS ?= --enable-asan --enable-ubsan
FUZZ_CONFIGURE_FLAGS := $(QEMU_CONFIGURE_FLAGS) --cc=clang --cxx=clang++ \
	--enable-fuzzing $(FUZZ_SANITIZERS)
FUZZ_FILTER := tests/qtest/fuzz/virtio-balloon-auto-instrumentation-filter
export FUZZ_SECONDS FUZZ_RUNS FUZZ_JOBS FUZZ_ARGS

fuzz-build: deps
	scripts/install-deps.sh --fuzz
	$(MAKE) fetch
	@scripts/assemble.sh "$$(cat $(BUILD)/pristine-path)" $(FUZZ_TREE)
	@if [ ! -f $(FUZZ_QBUILD)/build.ninja ]; then \
		rm -rf $(FUZZ_QBUILD) && mkdir -p $(FUZZ_QBUILD) && \
		cd $(FUZZ_QBUILD) && \
		$(FUZZ_TREE)/configure $(FUZZ_CONFIGURE_FLAGS); \
	fi
	@# Coverage only where the fuzzer should look; see the file.  Objects
	@# built with another filter keep theirs: a change here needs a clean
	@# FUZZ_DIR.
	@cmp -s $(FUZZ_FILTER) $(FUZZ_QBUILD)/instrumentation-filter || \
		cp $(FUZZ_FILTER) $(FUZZ_QBUILD)/instrumentation-filter
	nice ninja -C $(FUZZ_QBUILD) qemu-fuzz-x86_64
	scripts/install-firmware.sh --no-optionrom $(FUZZ_QBUILD)

fuzz: fuzz-build
	scripts/fuzz.sh run $(FUZZ_BIN) $(FUZZ_CORPUS) $(FUZZ_DIR)/work

fuzz-merge: fuzz-build
	scripts/fuzz.sh merge $(FUZZ_BIN) $(FUZZ_CORPUS) $(FUZZ_DIR)/work

checkpatch: assemble
	scripts/checkpatch.sh $(TREE)

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf .cache config.mk
