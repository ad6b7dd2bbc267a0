#!/usr/bin/env bash
# Cold start and peak RSS of the release binary: exec -> first Runtime API /next poll, with a
# 10,000-entry allow-list file, against a fake Runtime API on loopback (scripts/coldstart.py).
# scripts/coldstart_emulator.py measures exec -> first answer under the real emulator instead.
#
#   scripts/coldstart.sh [RUNS] [extra coldstart.py flags, e.g. --target http://127.0.0.1:9/api]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${1:-20}
shift || true
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --bin vpc-proxy >&2
python3 scripts/coldstart.py "$target_dir/release/vpc-proxy" --runs "$runs" "$@"
