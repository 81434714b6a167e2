#!/bin/sh
# Build llama.cpp's server (llama-server) for the built-in engine, once per machine, into $1.
#
# The sources are the llama.cpp tree vendored in the llama-cpp-python sdist ($2, e.g.
# llama-cpp-python==0.3.36): a PyPI package, so pip fetches (and caches) it like any dependency.
# Only the llama-server target is built, statically, without the web UI, network downloads (curl)
# or TLS: CPU inference of a text model needs none of them. Progress is shown as cmake prints it.
set -eu
out=$1
pin=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching the llama.cpp sources ($pin sdist)"
python -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: -d "$work" "$pin"
tar -xzf "$work"/*.tar.gz -C "$work" --wildcards '*/vendor/llama.cpp/*'
src=$(echo "$work"/*/vendor/llama.cpp)
# CMake from PyPI (a pinned wheel in the virtual environment): no system cmake is needed.
python -m pip install --quiet --disable-pip-version-check cmake==4.4.5
echo "configuring llama-server"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release "$@" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
echo "compiling llama-server on $jobs cores (once per machine; several minutes)"
{ cmake --build "$work/build" --target llama-server -j "$jobs" 2>&1; echo $? >"$work/status"; } |
  tee "$work/build.log" |
  awk '/^\[ *[0-9]+%\]/ && match($0, /[0-9]+%/) {
         p = substr($0, RSTART, RLENGTH); if (p != last) { print "  compiling llama-server: " p; fflush() }; last = p }'
if [ "$(cat "$work/status")" != 0 ] || [ ! -x "$work/build/bin/llama-server" ]; then
  tail -40 "$work/build.log" >&2
  echo "compiling llama-server failed (above: the end of its log)" >&2
  exit 1
fi
mkdir -p "$out"
cp "$work/build/bin/llama-server" "$out/llama-server.tmp"
mv "$out/llama-server.tmp" "$out/llama-server"
echo "llama-server built: $out/llama-server"
