#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints with warnings as errors, every test
# in the workspace (unit, integration against loopback servers, the built binary under the
# cargo-lambda runtime emulator, the ops kit against the SDK's mocks), and cfn-lint on every
# template. Python tools go into ./.venv; nothing else is assumed installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Pinned so a new release cannot change what the emulator tests exercise. cfn-lint and the
# SAM CLI (`sam validate --lint`) are installed (and pinned) by scripts/lint-templates.sh,
# which runs last.
.venv/bin/python -m pip install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2'

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
CARGO_LAMBDA="$root/.venv/bin/cargo-lambda" VPC_PROXY_REQUIRE_EMULATOR=1 \
    cargo test --workspace --locked --no-fail-fast
echo "== cfn-lint and sam validate --lint"
bash scripts/lint-templates.sh
