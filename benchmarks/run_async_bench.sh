#!/bin/sh
# Runs bench_async_save and prints how long ModelCheckpoint holds up training per save of a ResNet50 in
# training: sync, and async with the training between saves taking 1x and 2x a sync save.
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
print(f"{'case':<30} {'train ms':>8} {'blocked ms':>10} {'max ms':>7} {'update ms':>9} {'no save':>7} {'held ms':>8} "
      f"{'copied MB':>9} {'pending':>7} {'memcpy ms':>9} {'held/memcpy':>11}")
for b in rows:
    name = b["name"].split("/iterations")[0].removeprefix("BM_")
    if name == "MomentumUpdate":
        print(f"Momentum update of every weight and moment: in place {b['update_in_place_ms']:.2f} ms, "
              f"written aside {b['update_aside_ms']:.2f} ms (no save running)")
        continue
    if name == "SyncSave":
        print(f"{'sync':<30} {'-':>8} {b['blocked_mean_ms']:10.1f} {b['blocked_max_ms']:7.1f} {b['update_ms']:9.2f} {'-':>7} "
              f"{b['blocked_mean_ms']:8.1f} {'-':>9} {'-':>7} {'-':>9} {'-':>11}   ({b['file_MB']:.1f} MB file)")
        continue
    base, pct = (name.split("/") + ["100"])[:2]
    design = "in place" if base == "AsyncSave" else "copying"
    label = f"async {design}, train {int(pct) / 100:.0f}x sync"
    print(f"{label:<30} {b['training_ms']:8.1f} {b['blocked_mean_ms']:10.2f} {b['blocked_max_ms']:7.2f} "
          f"{b['update_ms']:9.2f} {b['update_no_save_ms']:7.2f} {b['held_ms']:8.2f} {b['copied_MB']:9.2f} {int(b['write_pending']):7d} "
          f"{b['memcpy_ms']:5.1f}/{b['memcpy_all_ms']:<4.1f} {b['memcpy_ratio']:5.2f}/{b['memcpy_all_ratio']:<5.2f}")
print("A ResNet50 in training (network + Momentum's state) saved by ModelCheckpoint at every step; the training")
print("between saves is Momentum's update plus a sleep, together 1x or 2x a sync save. blocked: the time")
print("on_train_step_end held the training thread (mean of 8, the first save apart); update: Momentum's update")
print("after a save (it writes aside, beside a writer); no save: the update of the same training without saves;")
print("held = blocked + (update - no save), what a save costs training in all; copied: what the training thread copied per save; pending: saves that found the")
print("previous file not yet renamed into place; memcpy: one plain copy of the network's parameters / of every")
print("tensor the file holds, into faulted buffers; in place = Momentum writes aside, copying = an optimizer")
print("that cannot (everything copied at the save).")
PY
