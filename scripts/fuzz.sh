#!/usr/bin/env bash
# Runs each cargo-fuzz target for a fixed budget and prints one summary line per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Targets: allowlist_parse, event_decode, url_build (fuzz/fuzz_targets/). New corpus entries
# go to fuzz/corpus/TARGET (git-ignored); the committed seeds in fuzz/seeds/TARGET and the
# dictionary in fuzz/dict/TARGET.dict, when present, are read too. A crash leaves its input in
# fuzz/artifacts/TARGET and makes the script exit non-zero; reproduce it with
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-...)
# and minimise it with `cargo fuzz tmin TARGET artifacts/TARGET/crash-...`.
#
# cargo-fuzz needs nightly-only rustc flags for the sanitizer; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. FUZZ_SANITIZER=none skips AddressSanitizer (about twice the
# executions; the code under test is safe Rust, ASan guards the C inside ring).
set -euo pipefail

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(allowlist_parse event_decode url_build)
fi
sanitizer=${FUZZ_SANITIZER:-address}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p target/logs
status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  flags=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10)
  [ -f "dict/$t.dict" ] && flags+=(-dict="dict/$t.dict")
  log="target/logs/$t.log"
  echo "== $t: ${seconds}s, sanitizer $sanitizer" >&2
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "${dirs[@]}" -- "${flags[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and fuzz/artifacts/$t)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(find "corpus/$t" -type f | wc -l)
  summary+=("$t seconds=$seconds execs=${execs:-?} execs_per_sec=${rate:-?} cov=${cov:-?} corpus=$corpus result=$result")
done
printf '%s\n' "${summary[@]}"
exit $status
