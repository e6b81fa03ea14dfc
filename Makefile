# selrob's make targets; the README leads with the first two.
#   make reproduce   set up .venv, run every study on the embedded data, write every figure and the claims
#   make test        set up .venv, run the test suite
#   make test-fast   the tests not marked slow (no trained smoke studies, no notebooks): about 2 minutes
#   make test-guard  the fast tests again under another CPU profile (what CI runs after make test)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: reproduce test test-fast test-guard smoke env clean-runs

env: $(VENV)/.installed

# Re-install when the dependency list changes. pip takes torch from the local disk where a
# constraint file points there, else from PyPI (set PIP_EXTRA_INDEX_URL for a CPU-only build).
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	# The attack tests' peer library; its requests~=2.25 pin would break Jupyter, and it needs
	# nothing else that is not installed already.
	$(BIN)/python -m pip install --quiet --no-compile --no-deps torchattacks==3.5.1
	# Byte-compile on every core (pip uses one): 20 s less on two cores. Like pip, ignore files
	# that do not compile (torch ships test files in newer Python syntax). selrob too: where
	# PYTHONDONTWRITEBYTECODE is set, every worker process and notebook kernel would compile it again.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib selrob > /dev/null 2>&1 || true
	touch $@

reproduce: env
	$(BIN)/selrob reproduce

smoke: env
	$(BIN)/selrob reproduce --smoke --runs-dir outputs/smoke-runs --figures-dir outputs/smoke-figures

# Two pytest-xdist worker processes, one per core of the 2-core CI machines (tests/conftest.py
# makes the evaluated smoke studies once for both). Idle OpenMP threads sleep instead of spinning:
# the workers, notebook kernels and CLI subprocesses of the tests share the cores, and spinning
# threads took them from each other (the guard's tests ran 2 to 4x slower). It changes no result.
TEST_WORKERS ?= 2
test test-fast test-guard: export OMP_WAIT_POLICY ?= PASSIVE
test: env
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test-fast: env
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow"

# The knife-edge guard: the tests not marked slow, again under the CPU profile of
# .ci/cpu-profile.env (other thread counts and kernels on the same machine, each measured to change
# results by benchmarks/cpu_profiles.py). A test that passes under `make test` and fails here
# compares floating-point results more tightly than machines agree.
test-guard: env
	set -a && . ./.ci/cpu-profile.env && set +a && $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow"

clean-runs:
	rm -rf runs outputs
