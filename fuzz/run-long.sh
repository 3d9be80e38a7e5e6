#!/usr/bin/env bash
# A long fuzzing run for a person to start: `fuzz/run-long.sh MINUTES [TARGET...]` runs each
# target (all of them when none is named) for MINUTES, one after the other, starting from the
# committed seeds and the corpus earlier runs left in fuzz/corpus/, and prints libFuzzer's
# coverage at the end of each (cov: edges reached, ft: features) with its final stats.
# Crashes are kept in fuzz/artifacts/<target>/. Stable Rust, no sanitizer, as .ci/fuzz-smoke.
set -euo pipefail
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 MINUTES [TARGET...]" >&2
  exit 2
fi
minutes="$1"
shift
cd "$(dirname "$0")"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
# `cargo fuzz build` takes one target or none (= all).
if [ ${#targets[@]} -eq 1 ]; then
  cargo fuzz build -s none --release "${targets[0]}"
else
  cargo fuzz build -s none --release
fi
summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  log="$(mktemp)"
  echo "--- fuzz $t for ${minutes} min (log: $log)"
  status=0
  nice -n 10 cargo fuzz run -s none --release "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
  echo "$last"
  summary+=("$(printf '%-20s %s' "$t" "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' <<<"$last" || echo '?')")")
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "error: $t failed (exit $status); the input is in fuzz/artifacts/$t" >&2
    failed=1
  fi
done
echo "--- coverage after ${minutes} min per target"
printf '%s\n' "${summary[@]}"
exit "$failed"
