#!/bin/sh
# Runs bench_async_save and prints how long ModelCheckpoint blocks training per save of a ResNet50-size
# parameter set: sync, and async with the training between saves simulated by sleeps of 1x and 2x a sync save.
# Usage: benchmarks/run_async_bench.sh [build-dir] [extra benchmark flags]   (default build dir: build)
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
bench="$build/benchmarks/bench_async_save"
if [ ! -x "$bench" ]; then
    echo "no $bench: cmake --build $build --target bench_async_save" >&2
    exit 1
fi
json=$(mktemp "${TMPDIR:-/tmp}/bench_async_save.XXXXXX.json")
trap 'rm -f "$json"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; files in ${TMPDIR:-/tmp}"
"$bench" --benchmark_format=json --benchmark_out="$json" --benchmark_out_format=json "$@" >/dev/null
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$json" <<'PY'
import json, sys

data = json.load(open(sys.argv[1]))
rows = [b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
print(f"{'case':<22} {'train ms':>8} {'blocked ms':>10} {'max ms':>8} {'1st save ms':>11} {'pending':>7} "
      f"{'memcpy ms':>9} {'ratio':>6} {'ratio max':>9} {'1st ratio':>9}")
for b in rows:
    name = b["name"].split("/iterations")[0].removeprefix("BM_")
    if name == "SyncSave":
        print(f"{'sync':<22} {'-':>8} {b['blocked_mean_ms']:10.1f} {b['blocked_max_ms']:8.1f} {'-':>11} {'-':>7} "
              f"{'-':>9} {1.0:6.3f} {'-':>9} {'-':>9}   ({b['file_MB']:.1f} MB file)")
        continue
    pct = name.split("/")[1] if "/" in name else "100"
    label = f"async, train {int(pct) / 100:.1f}x sync"
    print(f"{label:<22} {b['training_ms']:8.1f} {b['blocked_mean_ms']:10.1f} {b['blocked_max_ms']:8.1f} "
          f"{b['first_save_ms']:11.1f} {int(b['write_pending']):7d} {b['memcpy_ms']:9.1f} {b['ratio']:6.3f} "
          f"{b['ratio_max']:9.3f} {b['first_ratio']:9.3f}")
print("blocked: mean time on_train_step_end held the training thread, steady state (the first save apart);")
print("ratio = blocked / mean sync save time (target <= 0.10); pending: saves (of 8) that found the previous")
print("write unfinished and waited for it; memcpy: one plain copy of all parameters into faulted buffers;")
print("1st save: the first async save (its buffers were faulted in during the steps before it).")
PY
