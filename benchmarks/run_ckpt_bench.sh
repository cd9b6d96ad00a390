#!/bin/sh
# Runs bench_ckpt and prints one line per case: ours beside the raw POSIX baseline, and their ratio.
# Usage: benchmarks/run_ckpt_bench.sh [build-dir] [extra benchmark flags]   (default build dir: build)
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
bench="$build/benchmarks/bench_ckpt"
if [ ! -x "$bench" ]; then
    echo "no $bench: cmake --build $build --target bench_ckpt" >&2
    exit 1
fi
json=$(mktemp "${TMPDIR:-/tmp}/bench_ckpt.XXXXXX.json")
trap 'rm -f "$json"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; files in ${TMPDIR:-/tmp}"
"$bench" --benchmark_format=json --benchmark_out="$json" --benchmark_out_format=json "$@" >/dev/null
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$json" <<'EOF'
import json, sys

def mib(x):
    return f"{x / 2**20:9.1f}"

data = json.load(open(sys.argv[1]))
rows = [b for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
print(f"{'benchmark':<26} {'file MiB':>9} {'ours ms':>9} {'raw ms':>9} {'ours MiB/s':>10} {'raw MiB/s':>10} "
      f"{'ours/raw':>9} {'faults':>7} {'raw flt':>7}")
for b in rows:
    unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    ours_ms = b["real_time"] * unit
    ours_rate = mib(b["bytes_per_second"]) if "bytes_per_second" in b else f"{'-':>9}"
    raw_rate = mib(b["raw_bytes_per_second"]) if "raw_bytes_per_second" in b else f"{'-':>9}"
    name = b["name"].split("/")[0].removeprefix("BM_")  # drop /iterations:N/manual_time
    line = (f"{name:<26} {mib(b['file_bytes'])} {ours_ms:9.3f} {b['raw_ms']:9.3f} "
            f"{ours_rate:>10} {raw_rate:>10} {b['ratio_vs_raw']:8.2f}x {b['faults']:7.0f} {b['raw_faults']:7.0f}")
    if "records" in b:
        line += f"  ({int(b['records'])} records)"
    print(line)
print("ours/raw: time ours / time raw (>1: slower than raw); faults: minor page faults per call.")
print("Saves include fsync of file and folder; loads read files already in the page cache;")
print("raw = write+fsync+rename+dir fsync / read() into a fresh buffer / mmap, touch each record start, munmap.")
EOF
