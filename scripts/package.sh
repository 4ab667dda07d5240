#!/usr/bin/env bash
# Builds every Lambda function for arm64 in release mode with cargo-lambda, then prints the
# size of each bootstrap. Exits non-zero, naming the functions, if any could not be built.
#
# Usage: scripts/package.sh [VENV_BIN]
#   VENV_BIN  bin directory of the project venv holding cargo-lambda (default: .venv/bin),
#             relative to the repository root or absolute. `make tools` creates it.
#
# Installs what the cross build needs when it is missing:
#   - the Rust standard library for aarch64-unknown-linux-gnu (rustup target add);
#   - zig, which cargo-lambda links with, as the `ziglang` package in that venv.
# cargo-lambda looks for zig as `python3 -m ziglang` (python3 from PATH, or the interpreter
# named by CARGO_ZIGBUILD_PYTHON_PATH), then as `zig` on PATH; this script points it at the
# venv's interpreter, so no system zig or system ziglang is needed.
#
# The functions built are those template.yaml declares (Metadata BuildProperties Binary)
# and those under functions/. Binaries land in $CARGO_TARGET_DIR/lambda/<name>/bootstrap
# (target/ by default), where `cargo lambda deploy` finds them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "package: $*" >&2
    exit 2
}

bin="${1:-.venv/bin}"
[[ "$bin" = /* ]] || bin="$PWD/$bin"
[[ -x "$bin/python" ]] || die "no Python at $bin/python: run 'make tools' (or pass the venv's bin directory)"
[[ -x "$bin/cargo-lambda" ]] || die "no cargo-lambda in $bin: run 'make tools', which installs the pinned version"

# zig, from PyPI, into the same venv.
if ! "$bin/python" -m ziglang version >/dev/null 2>&1; then
    echo "==> installing zig (ziglang) into $bin"
    "$bin/python" -m pip install --quiet --disable-pip-version-check ziglang \
        || die "could not install ziglang into $bin"
fi
export CARGO_ZIGBUILD_PYTHON_PATH="$bin/python"
# `cargo lambda` runs the first cargo-lambda on PATH: the venv's.
export PATH="$bin:$PATH"

# The aarch64 standard library, for the toolchain this repository builds with.
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
    echo "==> rustup target add $target"
    rustup target add "$target" \
        || die "could not install the Rust standard library for $target (rustup needs its download site)"
fi

# Every function: declared in the template, or present under functions/.
mapfile -t declared < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\).*$/\1/p' template.yaml)
mapfile -t present < <(for dir in functions/*/; do [[ -f "$dir/Cargo.toml" ]] && basename "$dir"; done)
mapfile -t functions < <(printf '%s\n' "${declared[@]}" "${present[@]}" | sed '/^$/d' | sort -u)
[[ ${#functions[@]} -gt 0 ]] || die "no functions found in template.yaml or functions/"

echo "==> cargo lambda build --release --arm64 ($(rustc --version), zig $("$bin/python" -m ziglang version))"
built=()
failed=()
for fn in "${functions[@]}"; do
    if [[ ! -f "functions/$fn/Cargo.toml" ]]; then
        echo "package: $fn: declared in template.yaml, but functions/$fn does not exist" >&2
        failed+=("$fn (no functions/$fn)")
        continue
    fi
    echo "==> $fn"
    if cargo lambda build --release --arm64 --package "$fn"; then
        built+=("$fn")
    else
        echo "package: $fn: build failed (output above)" >&2
        failed+=("$fn (build failed)")
    fi
done

lambda_dir="${CARGO_TARGET_DIR:-target}/lambda"
echo "==> bootstraps in $lambda_dir"
for fn in "${built[@]}"; do
    bootstrap="$lambda_dir/$fn/bootstrap"
    if [[ ! -f "$bootstrap" ]]; then
        failed+=("$fn (no $bootstrap)")
        continue
    fi
    # ELF e_machine (bytes 18-19, little endian): 0xb7 is AArch64.
    machine="$(od -An -t x1 -j 18 -N 2 "$bootstrap" | tr -d ' \n')"
    if [[ "$machine" != "b700" ]]; then
        failed+=("$fn (bootstrap is not an AArch64 ELF binary)")
        continue
    fi
    bytes="$(stat -c %s "$bootstrap")"
    awk -v fn="$fn" -v b="$bytes" -v path="$bootstrap" \
        'BEGIN { printf "%-22s %10d bytes  %6.1f MiB  %s\n", fn, b, b / 1048576, path }'
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "package: ${#failed[@]} of ${#functions[@]} functions not packaged:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "==> packaged ${#built[@]} functions"
