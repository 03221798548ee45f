# rmapbench: `make bench` measures and reports, `make test` runs the tests.
# Both first set up what is missing: C compiler, valgrind, perf (Debian's
# linux-perf: the attr and cross-check tests compare with it) and libpfm4
# (vendor event names) through apt-get, and a Python virtual environment in
# .venv with the package installed into it.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)
APT    := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get
# pytest workers: the machine's cores, at most 2 (tests pin and measure)
JOBS   ?= 2

.PHONY: all setup host-deps build test mutants bench clean

all: test

host-deps:
	@missing=""; \
	command -v cc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v valgrind >/dev/null 2>&1 && [ -f /usr/include/valgrind/callgrind.h ] || missing="$$missing valgrind"; \
	command -v $(PYTHON) >/dev/null 2>&1 || missing="$$missing python3"; \
	perf --version >/dev/null 2>&1 || missing="$$missing linux-perf"; \
	{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libpfm\.so\.4 ' || missing="$$missing libpfm4"; \
	$(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(APT) update -qq && $(APT) install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory host-deps
	@[ -x $(VPY) ] || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	@touch $@

setup: $(STAMP)

build: setup
	$(VENV)/bin/rmapbench build

test: setup
	$(VPY) -m pytest -q -n $(JOBS) tests

# Mutation testing (tests/mutants.py, README "Mutation testing"): every mutant
# of the list must be killed by its tests.  Not part of `make test` (minutes).
mutants: setup
	$(VPY) tests/run_mutants.py --jobs $(JOBS)

# The run id names the run directory; the report is written into it.
RUN_ID ?= $(shell date -u +%Y%m%d-%H%M%S)
RUN    := reports/$(RUN_ID)

bench: setup
	$(VENV)/bin/rmapbench doctor
	$(VENV)/bin/rmapbench build
	$(VENV)/bin/rmapbench sweep --out $(RUN)
	$(VENV)/bin/rmapbench check --json --out $(RUN)/check.json
	$(VENV)/bin/rmapbench report $(RUN)

clean:
	rm -rf build .pytest_cache
