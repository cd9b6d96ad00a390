#!/usr/bin/env bash
# Tests of the mindsave program, one group per CTest test: run_cli_tests.sh BINARY SHARED_DIR WORK_DIR GROUP.
# Groups on real fixtures exit 4 (CTest: Skipped) when SHARED_DIR lacks them, unless CI=true (then they fail).
set -euo pipefail

if [[ $# -ne 4 ]]; then
    echo "usage: $0 MINDSAVE_BINARY SHARED_DIR WORK_DIR GROUP" >&2
    exit 2
fi
mindsave=$1
shared=${MINDSAVE_SHARED_DIR:-$2}  # the environment overrides, as for the C++ tests
work=$3
group=$4
fixtures=$shared/fixtures/mindspore/ckpt
xmu=$fixtures/xmu_ai_isp__checkpoint_lenet-1_1875.ckpt
armour=$fixtures/mindarmour__checkpoint_lenet-10_1875.ckpt
system_python=${MINDSAVE_PYTHON:-/usr/bin/python3}  # Debian's, which imports python3-onnx (a pyenv one may not)

rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() {
    echo "FAIL [$group]: $*" >&2
    exit 1
}

# run ARGS...: runs mindsave, keeping stdout, stderr and the exit status in $out, $err, $status.
run() {
    last="mindsave $*"
    set +e
    "$mindsave" "$@" >stdout.txt 2>stderr.txt
    status=$?
    set -e
    out=$(cat stdout.txt)
    err=$(cat stderr.txt)
}
show() { printf '%s\n--- stdout:\n%s\n--- stderr:\n%s\n' "$last" "$out" "$err"; }
expect_status() { [[ $status -eq $1 ]] || fail "expected exit $1, got $status from: $(show)"; }
expect_out() { grep -qE -- "$1" <<<"$out" || fail "stdout lacks /$1/ from: $(show)"; }
expect_err() { grep -qE -- "$1" <<<"$err" || fail "stderr lacks /$1/ from: $(show)"; }
expect_no_out() { ! grep -qE -- "$1" <<<"$out" || fail "stdout has /$1/ from: $(show)"; }

# The real checkpoints that must read; a file named _CORRUPTED_ is a real damaged one every command refuses.
readable_fixtures() {
    local f
    for f in "$fixtures"/*.ckpt; do [[ $f == *_CORRUPTED_* ]] || echo "$f"; done
}
damaged_fixtures() {
    local f
    for f in "$fixtures"/*_CORRUPTED_*.ckpt; do [[ -e $f ]] && echo "$f"; done
    return 0
}

need_fixtures() {
    if [[ -d $fixtures ]]; then return 0; fi
    if [[ ${CI:-} == true ]]; then fail "fixtures missing in CI: $fixtures"; fi
    echo "SKIPPED: fixtures not found: $fixtures (set -DMINDSAVE_SHARED_DIR=... or MINDSAVE_SHARED_DIR)"
    exit 4
}

# flip_byte FILE OFFSET: inverts the lowest bit of one byte in place.
flip_byte() {
    local byte
    byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf '%b' "\\$(printf '%03o' $((byte ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# offset_inside FILE NAME: a byte offset well inside the values of record NAME (its tag + 1000).
offset_inside() {
    python3 - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\x0a" + bytes([len(sys.argv[2])]) + sys.argv[2].encode())
assert at >= 0, "record not found"
print(at + 1000)
EOF
}

case $group in
usage)
    run
    expect_status 2
    expect_err "usage: mindsave"
    run --help
    expect_status 0
    for c in inspect verify diff edit convert; do expect_out "^  $c "; done
    run help
    expect_status 0
    expect_out "exit status"
    for c in inspect verify diff edit convert; do
        run help "$c"
        expect_status 0
        expect_out "^usage: mindsave $c"
        run "$c" --help
        expect_status 0
        expect_out "^usage: mindsave $c"
    done
    run edit -h
    expect_out -- "--rename OLD=NEW"
    run frobnicate x
    expect_status 2
    expect_err "^mindsave: unknown command 'frobnicate'"
    expect_err "Try 'mindsave --help'"
    run inspect
    expect_status 2
    expect_err "^mindsave: 'inspect' needs FILE"
    expect_err "Try 'mindsave inspect --help'"
    run inspect a.ckpt b.ckpt
    expect_status 2
    expect_err "unexpected argument 'b.ckpt'"
    run inspect --bogus a.ckpt
    expect_status 2
    expect_err "unknown option '--bogus'"
    run verify a.ckpt --json
    expect_status 2
    expect_err "unknown option '--json' for 'verify'"
    run diff a.ckpt
    expect_status 2
    expect_err "needs B"
    run edit a.ckpt b.ckpt --writer 9.x
    expect_status 2
    expect_err "not a MindSpore version"
    run edit a.ckpt b.ckpt --rename nothing
    expect_status 2
    expect_err "is not OLD=NEW"
    run edit a.ckpt b.ckpt --drop
    expect_status 2
    expect_err "'--drop' needs a value"
    run edit a.ckpt b.ckpt --crc --writer 2.2
    expect_status 2
    expect_err "crc needs the 2.3 writer"
    run edit a.ckpt b.ckpt --crc=yes
    expect_status 2
    expect_err "takes no value"
    # Unreadable files are errors (2), with the file named, and never crash.
    run verify missing.ckpt
    expect_status 2
    expect_err "^mindsave: missing.ckpt: does not exist"
    run inspect missing.ckpt
    expect_status 2
    run diff missing.ckpt missing.ckpt
    expect_status 2
    run edit missing.ckpt out.ckpt
    expect_status 2
    mkdir folder.ckpt
    run inspect folder.ckpt
    expect_status 2
    expect_err "is a directory"
    ;;

crafted)
    # A legacy-style (<= 2.2 writer) file with what the fixtures lack: NaN, inf, Float16, BFloat16,
    # Bool, an Int64 scalar (dims [0]), a str value, an all-NaN tensor, a name needing JSON escapes.
    python3 - crafted.ckpt <<'EOF'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(no, payload):
    return bytes([no << 3 | 2]) + varint(len(payload)) + payload
def record(name, dtype, dims, content):
    tensor = b"".join(b"\x08" + varint(d) for d in dims) + field(2, dtype.encode()) + field(3, content)
    return field(1, field(1, name.encode()) + field(2, tensor))
nan = struct.pack("<I", 0x7FC00000)
recs = [
    record("x", "Float32", [3], nan + struct.pack("<ff", 1.0, 3.0)),
    record("h", "Float16", [2], struct.pack("<HH", 0x3C00, 0xC000)),      # 1.0, -2.0
    record("b", "BFloat16", [2], struct.pack("<HH", 0x3F80, 0x4040)),     # 1.0, 3.0
    record("i", "Float32", [1], struct.pack("<f", float("inf"))),
    record("n", "Int64", [0], struct.pack("<q", 42)),
    record("flag", "Bool", [4], bytes([1, 0, 1, 1])),
    record("s", "str", [0], 'h\u00e9llo "q"'.encode("utf-32-le")),
    record("allnan", "Float64", [2], struct.pack("<dd", float("nan"), float("nan"))),
    record('we"ird\tname', "Int8", [2], bytes([0xFF, 5])),
]
open(sys.argv[1], "wb").write(b"".join(recs))
EOF
    run inspect crafted.ckpt
    expect_status 0
    expect_out '^x +Float32 +\[3\] +12 +min=1 max=3 mean=2 nan=1$'
    expect_out '^h +Float16 +\[2\] +4 +min=-2 max=1 mean=-0.5$'
    expect_out '^b +BFloat16 +\[2\] +4 +min=1 max=3 mean=2$'
    expect_out '^i +Float32 +\[1\] +4 +value=inf$'
    expect_out '^n +Int64 +\[\] +8 +value=42$'
    expect_out '^flag +Bool +\[4\] +4 +min=0 max=1 mean=0.75$'
    expect_out '^s +str +\[\] +36 +text="héllo \\"q\\""$'
    expect_out '^allnan +Float64 +\[2\] +16 +min=nan max=nan mean=nan nan=2$'
    expect_out '^we"ird\\tname +Int8 +\[2\] +2 +min=-1 max=5 mean=2$'
    expect_out '^9 records, .* no CRC footer$'
    run inspect crafted.ckpt --json
    expect_status 0
    python3 -m json.tool stdout.txt >/dev/null || fail "inspect --json is not valid JSON: $(show)"
    python3 - stdout.txt <<'EOF' || fail "inspect --json content: $(show)"
import json, math, sys
doc = json.load(open(sys.argv[1]))
r = {x["name"]: x for x in doc["records"]}
assert doc["crc"] is False and doc["crc_ok"] is None and len(doc["records"]) == 9
assert (r["x"]["min"], r["x"]["max"], r["x"]["mean"], r["x"]["nan_count"]) == (1, 3, 2, 1), r["x"]
assert r["h"]["mean"] == -0.5 and r["h"]["shape"] == [2] and r["h"]["dtype"] == "Float16"
assert r["b"]["mean"] == 2
assert r["i"]["value"] is None and r["i"]["max"] is None          # inf is not JSON: null
assert r["n"]["value"] == 42 and r["n"]["shape"] == []
assert r["flag"]["mean"] == 0.75
assert r["s"]["dtype"] == "str" and r["s"]["text"] == 'h\u00e9llo "q"' and "min" not in r["s"]
assert r["allnan"]["min"] is None and r["allnan"]["nan_count"] == 2
assert r['we"ird\tname']["min"] == -1
EOF
    run verify crafted.ckpt
    expect_status 0
    expect_out "^ok: 9 records, no crc footer$"
    run diff crafted.ckpt crafted.ckpt
    expect_status 0
    expect_out "^x: identical$"
    expect_out "^s: identical$"
    # The <= 2.2 writer reproduces every record, str and dims-[0] scalar included.
    run edit crafted.ckpt again.ckpt --writer 2.2
    expect_status 0
    cmp crafted.ckpt again.ckpt || fail "edit --writer 2.2 changed the crafted file"
    run edit crafted.ckpt crc.ckpt --crc
    expect_status 0
    run verify crc.ckpt
    expect_status 0
    expect_out "^ok: 9 records, crc verified$"
    run inspect crc.ckpt
    expect_out "^9 records, .* CRC footer matches$"
    run inspect crc.ckpt --json
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["crc"] is True and d["crc_ok"] is True' stdout.txt ||
        fail "inspect --json of a file with a CRC footer: $(show)"
    run diff crafted.ckpt crc.ckpt
    expect_status 0
    expect_out "note: B has a CRC footer"
    # An empty file parses as no records: verify refuses it, inspect describes it.
    : >empty.ckpt
    run verify empty.ckpt
    expect_status 1
    expect_err "empty.ckpt: holds no records"
    run inspect empty.ckpt --json
    expect_status 0
    python3 -m json.tool stdout.txt >/dev/null || fail "inspect --json of an empty file: $(show)"
    # Trailing garbage after the records is damage.
    cp crafted.ckpt junk.ckpt
    printf 'garbage' >>junk.ckpt
    run verify junk.ckpt
    expect_status 1
    expect_err "junk.ckpt: not a valid MindSpore checkpoint: record 9"
    run inspect junk.ckpt
    expect_status 2
    ;;

inspect)
    need_fixtures
    run inspect "$xmu"
    expect_status 0
    expect_out '^conv1\.weight +Float32 +\[6, 1, 5, 5\] +600 +min=[-0-9.e]+ max=[-0-9.e]+ mean=[-0-9.e]+$'
    expect_out '^global_step +Int32 +\[1\] +4 +value=0$'
    expect_out '^learning_rate +Float32 +\[\] +4 +value=0.01$'
    expect_out '^momentum +Float32 +\[\] +4 +value=0.9$'
    expect_out '^moments\.fc3\.bias +Float32 +\[10\] +40 '
    expect_out '^19 records, [0-9]+ bytes of values, file 494187 bytes, no CRC footer$'
    [[ $(grep -c -E ' (Float32|Int32) ' <<<"$out") -eq 19 ]] || fail "expected 19 record lines: $(show)"
    run inspect --json "$xmu"
    expect_status 0
    python3 -m json.tool stdout.txt >/dev/null || fail "inspect --json is not valid JSON: $(show)"
    python3 - stdout.txt <<'EOF' || fail "inspect --json content: $(show)"
import json, sys
doc = json.load(open(sys.argv[1]))
recs = doc["records"]
assert len(recs) == 19, len(recs)
assert doc["crc"] is False and doc["file_bytes"] == 494187
c = recs[0]
assert (c["name"], c["dtype"], c["shape"], c["bytes"], c["elements"]) == ("conv1.weight", "Float32", [6, 1, 5, 5], 600, 150)
assert c["min"] < c["mean"] < c["max"]
lr = next(r for r in recs if r["name"] == "learning_rate")
assert lr["shape"] == [] and abs(lr["value"] - 0.01) < 1e-7
EOF
    # Every fixture: text and JSON, Float16 and Float64 included.
    while read -r f; do
        run inspect "$f"
        expect_status 0
        run inspect "$f" --json
        expect_status 0
        python3 -m json.tool stdout.txt >/dev/null || fail "inspect --json of $f: $(show)"
    done < <(readable_fixtures)
    while read -r f; do  # a real damaged file: an error naming it and the place, never a crash
        run inspect "$f"
        expect_status 2
        expect_err "^mindsave: .*$(basename "$f"): not a valid MindSpore checkpoint: record 0 .*runs past the end"
    done < <(damaged_fixtures)
    run inspect "$fixtures/golden_stick__llama2_tiny_fp16_rank0.ckpt"
    expect_out '^model\.tok_embeddings\.embedding_weight +Float16 +\[32000, 40\] +2560000 +min='
    run inspect "$armour"
    expect_out '^learning_rate +Float64 +\[\] +8 +value=0.001$'
    ;;

verify)
    need_fixtures
    while read -r f; do
        run verify "$f"
        expect_status 0
        expect_out "^ok: [0-9]+ records?, no crc footer$"
    done < <(readable_fixtures)
    [[ -n $(damaged_fixtures) ]] || fail "no damaged fixture (_CORRUPTED_) in $fixtures"
    while read -r f; do
        run verify "$f"
        expect_status 1
        expect_err "$(basename "$f"): not a valid MindSpore checkpoint"
    done < <(damaged_fixtures)
    run verify "$xmu"
    expect_out "^ok: 19 records, no crc footer$"
    # Cut in half: the record there is incomplete.
    head -c 247093 "$xmu" >truncated.ckpt
    run verify truncated.ckpt
    expect_status 1
    expect_err "^mindsave: truncated.ckpt: not a valid MindSpore checkpoint: record 10 \('momentum'\): .* \(the file is truncated or corrupt\)"
    # With a CRC footer, one flipped bit inside the values of fc1.weight is caught.
    run edit "$xmu" crc.ckpt --crc
    expect_status 0
    run verify crc.ckpt
    expect_status 0
    expect_out "^ok: 19 records, crc verified$"
    cp crc.ckpt flipped_crc.ckpt
    chmod u+w flipped_crc.ckpt
    flip_byte flipped_crc.ckpt "$(offset_inside crc.ckpt fc1.weight)"
    run verify flipped_crc.ckpt
    expect_status 1
    expect_err "^mindsave: flipped_crc.ckpt: CRC-32 check failed"
    run inspect flipped_crc.ckpt
    expect_status 0
    expect_out "CRC footer MISMATCH"
    head -c 400000 crc.ckpt >truncated_crc.ckpt
    run verify truncated_crc.ckpt
    expect_status 1
    # Without a footer the same damage is invisible to verify (diff shows it: see the diff group).
    cp "$xmu" flipped.ckpt
    chmod u+w flipped.ckpt
    flip_byte flipped.ckpt "$(offset_inside "$xmu" fc1.weight)"
    cmp -s "$xmu" flipped.ckpt && fail "flip_byte changed nothing"
    run verify flipped.ckpt
    expect_status 0
    ;;

diff)
    need_fixtures
    run diff "$xmu" "$xmu"
    expect_status 0
    expect_out "^conv1\.weight: identical$"
    expect_out "^summary: 19 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B: the checkpoints are identical$"
    # The 2.3 writer spells scalars differently; the records are the same.
    run edit "$xmu" new_writer.ckpt
    expect_status 0
    cmp -s "$xmu" new_writer.ckpt && fail "the 2.3 writer should differ in bytes from a 2.2 file"
    run diff "$xmu" new_writer.ckpt
    expect_status 0
    run edit "$xmu" edited.ckpt --rename fc3.bias=head.bias --drop moments.fc3.bias
    expect_status 0
    run diff "$xmu" edited.ckpt
    expect_status 1
    expect_out "^only in A: fc3\.bias \(same content as 'head\.bias' in B\)$"
    expect_out "^only in A: moments\.fc3\.bias$"
    expect_out "^only in B: head\.bias"
    expect_out "^conv1\.weight: identical$"
    expect_out "^summary: 17 identical, 0 different, 0 mismatched, 2 only in A, 1 only in B: the checkpoints differ$"
    # One flipped bit in one value.
    cp "$xmu" flipped.ckpt
    chmod u+w flipped.ckpt
    flip_byte flipped.ckpt "$(offset_inside "$xmu" fc1.weight)"
    run diff "$xmu" flipped.ckpt
    expect_status 1
    expect_out "^fc1\.weight: max abs diff [0-9.e+-]+, max rel diff [0-9.e+-]+ \(1 of 48000 elements differ\)$"
    expect_out "^fc2\.weight: identical$"
    # Two trainings: values differ, and learning_rate is Float32 in one, Float64 in the other.
    run diff "$xmu" "$armour"
    expect_status 1
    expect_out "^learning_rate: dtype mismatch: Float32 in A, Float64 in B; max abs diff 0.009"
    expect_out "^only in A: global_step$"
    expect_out "^conv1\.weight: max abs diff"
    # Reordered records are a difference too.
    run edit "$xmu" firsts.ckpt --keep-prefix fc1.
    run edit "$xmu" rest.ckpt --drop-prefix fc1.
    python3 - firsts.ckpt rest.ckpt reordered.ckpt <<'EOF'
import sys
open(sys.argv[3], "wb").write(open(sys.argv[2], "rb").read() + open(sys.argv[1], "rb").read())
EOF
    run diff new_writer.ckpt reordered.ckpt
    expect_status 1
    expect_out "^order: the shared records are in a different order$"
    expect_out "^summary: 19 identical"
    # A damaged file is an error (2), not a difference.
    head -c 1000 "$xmu" >truncated.ckpt
    run diff "$xmu" truncated.ckpt
    expect_status 2
    expect_err "truncated.ckpt: not a valid MindSpore checkpoint"
    ;;

edit)
    need_fixtures
    # The <= 2.2 writer reproduces every real file byte for byte.
    run edit "$xmu" copy.ckpt --writer 2.2
    expect_status 0
    expect_out "^wrote copy.ckpt: 19 records, 494187 bytes \(MindSpore <= 2.2 writer, no CRC footer\); 0 dropped, 0 renamed$"
    cmp "$xmu" copy.ckpt || fail "edit --writer 2.2 did not reproduce $xmu"
    # Each real file is re-created byte for byte by the writer of its MindSpore generation (<= 2.2 or >= 2.3).
    while read -r f; do
        run edit "$f" copy.ckpt --writer 2.2.14
        expect_status 0
        if ! cmp -s "$f" copy.ckpt; then
            run edit "$f" copy.ckpt --writer 2.3.0
            expect_status 0
            cmp "$f" copy.ckpt || fail "neither --writer 2.2.14 nor 2.3.0 reproduced $f"
        fi
    done < <(readable_fixtures)
    run edit "$xmu" kept.ckpt --keep-prefix moments.
    expect_status 0
    expect_out "8 records"
    run inspect kept.ckpt
    expect_no_out "^conv1"
    run edit "$xmu" dropped.ckpt --drop-prefix moments. --drop global_step --drop momentum
    expect_status 0
    expect_out "9 records, .*; 10 dropped, 0 renamed$"
    run inspect dropped.ckpt
    expect_no_out "^(moments|global_step|momentum)"
    expect_out "^learning_rate "
    # Renames apply together: a swap works.
    run edit "$xmu" swapped.ckpt --rename fc1.bias=fc2.bias --rename=fc2.bias=fc1.bias
    expect_status 0
    expect_out "2 renamed$"
    run inspect swapped.ckpt
    expect_out '^fc1\.bias +Float32 +\[84\]'
    expect_out '^fc2\.bias +Float32 +\[120\]'
    # '.ckpt' is appended as MindSpore does, and OUT may be IN.
    run edit "$xmu" plain --drop momentum
    expect_status 0
    expect_out "^wrote plain.ckpt: 18 records"
    [[ -f plain.ckpt && ! -e plain ]] || fail "edit did not write plain.ckpt"
    run edit plain.ckpt plain.ckpt --drop learning_rate --writer 2.2
    expect_status 0
    run verify plain.ckpt
    expect_out "^ok: 17 records, no crc footer$"
    ls plain.ckpt.*.tmp 2>/dev/null && fail "a temporary file was left behind"
    # Names that do not exist, and renames onto a name that stays, are errors naming them.
    run edit "$xmu" bad.ckpt --rename fc1.weight=fc2.weight
    expect_status 2
    expect_err "^mindsave: .*xmu_ai_isp__checkpoint_lenet-1_1875.ckpt: --rename 'fc1.weight=fc2.weight': a record named 'fc2.weight' stays"
    run edit "$xmu" bad.ckpt --rename fc1.weight=x --rename fc2.weight=x
    expect_status 2
    expect_err "is renamed to 'x' too"
    run edit "$xmu" bad.ckpt --rename fc1.wieght=x
    expect_status 2
    expect_err "no record named 'fc1.wieght' \(did you mean 'fc1.weight'\?\)"
    run edit "$xmu" bad.ckpt --drop conv3.weight
    expect_status 2
    expect_err "--drop 'conv3.weight': no record has this name \(did you mean 'conv1.weight'\?\)"
    run edit "$xmu" bad.ckpt --drop-prefix nothing.
    expect_status 2
    expect_err "--drop-prefix 'nothing.' matches no record"
    run edit "$xmu" bad.ckpt --drop fc1.bias --rename fc1.bias=y
    expect_status 2
    expect_err "'fc1.bias' is also dropped"
    run edit "$xmu" bad.ckpt --rename fc1.bias=p --rename fc1.bias=q
    expect_status 2
    expect_err "'fc1.bias' is renamed twice"
    run edit "$xmu" bad.ckpt --drop-prefix f --drop-prefix c --drop-prefix g --drop-prefix l --drop-prefix m
    expect_status 2
    expect_err "every record is dropped"
    [[ ! -e bad.ckpt ]] || fail "a failed edit left bad.ckpt"
    run edit "$xmu" no/such/dir/out.ckpt
    expect_status 2
    expect_err "out.ckpt: cannot create a temporary file"
    ;;

convert)
    # A MindSpore-named checkpoint with a BatchNorm and an Int64 tensor, and one with a str value.
    python3 - bn.ckpt text.ckpt <<'EOF'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(no, payload):
    return bytes([no << 3 | 2]) + varint(len(payload)) + payload
def record(name, dtype, dims, content):
    tensor = b"".join(b"\x08" + varint(d) for d in dims) + field(2, dtype.encode()) + field(3, content)
    return field(1, field(1, name.encode()) + field(2, tensor))
f32 = lambda *v: struct.pack("<%df" % len(v), *v)
recs = [
    record("conv.weight", "Float32", [2, 3], f32(1, -2, 3.5, 4, 5, 6)),
    record("bn.moving_mean", "Float32", [2], f32(0.25, -0.5)),
    record("bn.moving_variance", "Float32", [2], f32(1, 2)),
    record("bn.gamma", "Float32", [2], f32(1.5, 1)),
    record("bn.beta", "Float32", [2], f32(0, 0.125)),
    record("steps", "Int64", [1], struct.pack("<q", 1234567890123)),
]
open(sys.argv[1], "wb").write(b"".join(recs))
open(sys.argv[2], "wb").write(recs[0] + record("note", "str", [0], "h\u00e9".encode("utf-32-le")))
EOF
    run convert bn.ckpt bn.pth
    expect_status 0
    expect_out "^wrote bn.pth \(pth\) from bn.ckpt \(ckpt\): 7 records, [0-9]+ bytes; MindSpore -> PyTorch names: 4 renamed, 0 dropped, 1 added$"
    python3 - bn.pth <<'EOF' || fail "bn.pth is not the zip torch.save writes: $(show)"
import struct, sys, zipfile
raw = open(sys.argv[1], "rb").read()
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None  # every CRC-32 checks
names = z.namelist()
assert names[0] == "archive/data.pkl" and "archive/data/6" in names, names
assert z.read("archive/version") == b"3\n" and z.read("archive/byteorder") == b"little"
for i in z.infolist():
    assert i.compress_type == zipfile.ZIP_STORED
    name_len, extra_len = struct.unpack("<HH", raw[i.header_offset + 26:i.header_offset + 30])
    data_at = i.header_offset + 30 + name_len + extra_len
    assert data_at % 64 == 0, (i.filename, data_at)  # torch aligns every entry's data to 64 bytes
pkl = z.read("archive/data.pkl")
for name in [b"bn.weight", b"bn.bias", b"bn.running_mean", b"bn.running_var", b"bn.num_batches_tracked", b"LongStorage"]:
    assert name in pkl, name
EOF
    run convert bn.pth back.ckpt
    expect_status 0
    expect_out "6 records, .* PyTorch -> MindSpore names: 4 renamed, 1 dropped, 0 added$"
    run diff bn.ckpt back.ckpt
    expect_status 0
    expect_out "summary: 6 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B: the checkpoints are identical"
    # safetensors: MindSpore's flavour (names kept), with crc_num; names come back sorted.
    run convert bn.ckpt bn.safetensors --crc
    expect_status 0
    expect_out "^wrote bn.safetensors \(safetensors\) from bn.ckpt \(ckpt\): 6 records, [0-9]+ bytes; names kept; with CRC-32$"
    python3 - bn.safetensors <<'EOF' || fail "bn.safetensors header: $(show)"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
h = json.loads(data[8:8 + n])
assert h["__metadata__"]["format"] == "ms" and "crc_num" in h["__metadata__"], h
assert h["bn.gamma"]["dtype"] == "F32" and h["bn.gamma"]["shape"] == [2]
assert h["steps"]["dtype"] == "I64" and h["steps"]["data_offsets"] == [0, 8]  # 8-byte dtypes come first
EOF
    run convert bn.safetensors st.ckpt
    expect_status 0
    expect_out "names kept$"
    run diff bn.ckpt st.ckpt
    expect_status 1
    expect_out "summary: 6 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B"
    expect_out "order: the shared records are in a different order"
    run convert bn.safetensors st.pth
    expect_status 0
    expect_out "MindSpore -> PyTorch names: 4 renamed, 0 dropped, 1 added$"
    # Content decides where the extension cannot, or is wrong.
    cp bn.pth model.bin
    run convert model.bin sniffed.ckpt
    expect_status 0
    expect_out "from model.bin \(pth\)"
    cp bn.pth wrong.ckpt
    run convert wrong.ckpt wrong.safetensors
    expect_status 0
    expect_err "note: wrong.ckpt: its content is pth, not what its extension says"
    cp bn.safetensors weights
    run convert weights sniffed2.ckpt
    expect_status 0
    expect_out "from weights \(safetensors\)"
    # --keep-names; OUT may be IN.
    run convert bn.ckpt kept.pth --keep-names
    expect_status 0
    expect_out "6 records, .*names kept \(--keep-names\)$"
    run convert kept.pth kept.pth
    expect_status 0
    run convert kept.pth kept.ckpt --keep-names
    run diff bn.ckpt kept.ckpt
    expect_status 0
    # A map file: prefix and drop rules; a rule that matches nothing is reported.
    printf '# test map\nconv.* features.0.*\nsteps -\nnothing.x  y\n' >map.txt
    run convert bn.ckpt mapped.ckpt --map map.txt
    expect_status 0
    expect_out "5 records, .*names kept; map: 1 renamed, 1 dropped$"
    expect_err "warning: --map map.txt line 4: 'nothing.x' matches no name in bn.ckpt"
    run inspect mapped.ckpt
    expect_out '^features\.0\.weight +Float32 +\[2, 3\]'
    expect_no_out '^steps '
    printf 'conv.weight bn.gamma\n' >clash.txt
    run convert bn.ckpt clash.ckpt --map clash.txt
    expect_status 2
    expect_err "'bn.gamma' would both be saved as 'bn.gamma' \(fix the --map rules\)"
    [[ ! -e clash.ckpt ]] || fail "a failed convert left clash.ckpt"
    printf 'a b c\n' >bad.txt
    run convert bn.ckpt x.ckpt --map bad.txt
    expect_status 2
    expect_err "bad.txt:1: expected 'FROM TO'"
    # inspect, verify and diff read safetensors and .pth files too.
    run convert bn.ckpt crc.safetensors --crc
    expect_status 0
    run verify crc.safetensors
    expect_status 0
    expect_out "^ok: 6 records, safetensors, crc_num verified$"
    run inspect kept.pth
    expect_status 0
    expect_out "pth, zip CRC-32s verified$"
    run inspect --json crc.safetensors
    expect_out '"format": "safetensors"'
    run diff bn.ckpt crc.safetensors  # safetensors keeps its records sorted by name
    expect_status 1
    expect_out "^summary: 6 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B"
    expect_out "^order: the shared records are in a different order$"
    run diff kept.pth bn.ckpt  # converted with --keep-names: the same records
    expect_status 0
    expect_out "the checkpoints are identical$"
    # A pattern rule: each '*' carries what it matched.
    printf '*.gamma norm_*.scale\n' >glob.txt
    run convert bn.ckpt glob.ckpt --map glob.txt
    expect_status 0
    run inspect glob.ckpt
    expect_out '^norm_bn\.scale +Float32'
    # Built-in maps: an unknown one is named with the known ones.
    run convert bn.ckpt x.ckpt --map builtin:nonesuch
    expect_status 2
    expect_err "no built-in map 'nonesuch'; there is: builtin:torchvision-resnet50"
    # str values: a Python str in a .pth; impossible in safetensors.
    run convert text.ckpt text.pth
    expect_status 0
    run convert text.pth text2.ckpt
    expect_status 0
    run diff text.ckpt text2.ckpt
    expect_status 0
    run convert text.ckpt text.safetensors
    expect_status 2
    expect_err "'note' is a str value: safetensors holds tensors only"
    # Usage mistakes and damaged input.
    run convert bn.ckpt out.bin
    expect_status 2
    expect_err "cannot tell the format of OUT 'out.bin'"
    run convert bn.ckpt out.pth --crc
    expect_status 2
    expect_err "a .pth always carries a CRC-32"
    run convert missing.pth out.ckpt
    expect_status 2
    expect_err "missing.pth: does not exist"
    head -c 300 bn.pth >cut.pth
    run convert cut.pth out.ckpt
    expect_status 2
    expect_err "^mindsave: cut.pth: not a ZIP archive, or a truncated one"
    [[ ! -e out.ckpt ]] || fail "a failed convert left out.ckpt"
    ;;

models)
    # MindIR and ONNX models: every command that reads takes their weights, through the library's detection.
    need_fixtures
    mindir_dir=$shared/fixtures/mindspore/mindir
    lstm=$mindir_dir/ms_old_version_lstm_1.6.1.mindir
    # An ONNX model made by python3-onnx (an independent writer), with known initializers.
    "$system_python" - <<'EOF' || fail "python3-onnx could not write model.onnx"
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = np.arange(-9, 9, dtype=np.float32).reshape(2, 1, 3, 3) / 4
b = np.array([0.5, -1.5], dtype=np.float32)
steps = np.array([7], dtype=np.int64)
inits = [numpy_helper.from_array(w, "conv1.weight"), numpy_helper.from_array(b, "conv1.bias"),
         numpy_helper.from_array(steps, "global_step")]
node = helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["y"])
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.checker.check_model(model)
onnx.save(model, "model.onnx")
EOF
    run inspect model.onnx
    expect_status 0
    expect_out '^conv1\.weight +Float32 +\[2, 1, 3, 3\] +72 +min=-2\.25 max=2 mean=-0\.125$'
    expect_out '^conv1\.bias +Float32 +\[2\] +8 +min=-1\.5 max=0\.5 mean=-0\.5$'
    expect_out '^global_step +Int64 +\[1\] +8 +value=7$'
    expect_out '^3 records, 88 bytes of values, file [0-9]+ bytes, onnx, no checksums \(the format has none\)$'
    [[ $(tail -c1 stdout.txt | od -An -tx1 | tr -d ' ') == 0a ]] || fail "inspect's text does not end in a newline"
    run inspect model.onnx --json
    expect_status 0
    "$system_python" - stdout.txt <<'EOF' || fail "inspect --json of an ONNX model: $(show)"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["format"] == "onnx" and doc["crc"] is False, doc
assert [r["name"] for r in doc["records"]] == ["conv1.weight", "conv1.bias", "global_step"], doc["records"]
EOF
    run verify model.onnx
    expect_status 0
    expect_out '^ok: 3 records, onnx, no checksums'
    # The weights convert to a .ckpt unchanged (MindSpore's names kept: no PyTorch BatchNorm names).
    run convert model.onnx weights.ckpt
    expect_status 0
    expect_out '^wrote weights\.ckpt \(ckpt\) from model\.onnx \(onnx\): 3 records, .*names kept'
    run diff model.onnx weights.ckpt
    expect_status 0
    expect_out 'summary: 3 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B'
    run convert weights.ckpt back.onnx
    expect_status 2
    expect_err "an ONNX model holds a graph as well as weights"
    # Content beats a misleading extension, with a note.
    cp model.onnx model.ckpt
    run inspect model.ckpt
    expect_status 0
    expect_err "note: model.ckpt: its content is onnx, not what its extension says"
    expect_out '^3 records, .*onnx'
    # A real MindSpore-written MindIR (1.6.1, an LSTM): its parameters, by name and shape.
    run inspect "$lstm"
    expect_status 0
    expect_out '^lstm\.bias_hh_l0 +Float32 +\[200\] +800 +min=-0\.14111796 max=0\.14017011 '
    expect_out '^6 records, 50416 bytes of values, file 61025 bytes, mindir, no checksums \(the format has none\)$'
    run verify "$lstm"
    expect_status 0
    expect_out "^ok: 6 records, mindir, no checksums"
    run convert "$lstm" lstm.safetensors
    expect_status 0
    run diff "$lstm" lstm.safetensors
    expect_status 1  # safetensors sorts the names: same records, another order
    expect_out 'summary: 6 identical, 0 different, 0 mismatched, 0 only in A, 0 only in B'
    # Every MindIR fixture: read, or (encrypted) refused with a typed error saying so, never a crash.
    for f in "$mindir_dir"/*.mindir; do
        run inspect "$f"
        if [[ $f == *aes_gcm* ]]; then
            expect_status 2
            expect_err "encrypted"
        else
            expect_status 0
        fi
    done
    # A truncated model is a clean error naming the file.
    head -c 40 model.onnx >cut.onnx
    run inspect cut.onnx
    expect_status 2
    expect_err "^mindsave: cut\.onnx: "
    ;;

bench)
    # A small generated set, every format, as JSON: every row present, its figures positive and finite.
    run bench --size 2 --tensors 8 --rounds 1 --dir benchdir --json
    expect_status 0
    python3 - stdout.txt <<'EOF' || fail "bench --json: $(show)"
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["bytes"] == 2 * 1024 * 1024 and d["tensors"] == 8, d
assert set(d["limits"]) == {"write+fsync", "write", "read fresh", "read touched", "memcpy"}, d["limits"]
rows = {(r["format"], r["operation"]) for r in d["rows"]}
for f in ("ckpt", "safetensors", "pth"):
    for op in ("save durable", "save page cache", "load into dict", "load into net"):
        assert (f, op) in rows, (f, op)
for r in d["rows"]:
    assert r["seconds"] > 0 and math.isfinite(r["gb_per_s"]) and r["gb_per_s"] > 0 and r["ratio"] > 0, r
EOF
    [[ -f benchdir/bench_ckpt.ckpt && -f benchdir/bench_pth.pth ]] || fail "bench --dir keeps its files: $(ls benchdir)"
    # The text table, from a real file's float32 tensors, one format.
    need_fixtures
    run bench "$xmu" --formats ckpt --rounds 1
    expect_status 0
    expect_out '^load into net +ckpt '
    expect_out '^memcpy '
    run bench --formats ckpt,zip
    expect_status 2
    expect_err "unknown format 'zip'"
    run bench --size 0
    expect_status 2
    expect_err "positive whole number"
    # A folder it cannot write in: a typed error naming the path and the fix.
    touch not_a_folder
    run bench --size 1 --tensors 1 --rounds 1 --dir not_a_folder/sub
    expect_status 2
    expect_err "^mindsave: .*not_a_folder/sub.*choose another --dir"
    ;;

decrypt)
    # MindSpore's encrypted MindIR with its key; a checkpoint encrypted by the independent implementation
    # (tests/crypto/mindspore_cipher.py) inspected and converted; wrong keys and missing keys refused.
    need_fixtures
    mindir=$shared/fixtures/mindspore/mindir/ms_add_aes_gcm_key_0123456789ABCDEF.mindir
    cipher_py=$(cd "$(dirname "$0")/../crypto" && pwd)/mindspore_cipher.py
    run inspect "$mindir"
    expect_status 2
    expect_err 'MindIR model is encrypted \(AES-GCM'
    run inspect "$mindir" --dec-key 0123456789ABCDEF
    expect_status 0
    expect_out '^0 records, .*mindir, decrypted'
    run inspect "$mindir" --dec-key 0123456789ABCDEX
    expect_status 2
    expect_err 'tag does not match'
    printf '0123456789ABCDEF' >key.bin
    "$system_python" "$cipher_py" encrypt SM4-CBC 30313233343536373839414243444546 "$xmu" enc.ckpt
    run inspect enc.ckpt --dec-key-file key.bin --dec-mode SM4-CBC --json
    expect_status 0
    "$system_python" - stdout.txt <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "ckpt" and len(d["records"]) == 19, d["format"]
EOF
    run inspect enc.ckpt
    expect_status 2
    expect_err 'checkpoint is encrypted \(SM4-CBC.*dec_mode = "SM4-CBC"'
    run inspect enc.ckpt --dec-key 0123456789ABCDEF
    expect_status 2
    expect_err 'encrypted with SM4-CBC, not AES-GCM'
    run convert enc.ckpt plain.ckpt --dec-key 0123456789ABCDEF --dec-mode SM4-CBC
    expect_status 0
    run diff plain.ckpt "$xmu"  # the same records (the writer's generation may differ, so not the same bytes)
    expect_status 0
    run inspect enc.ckpt --dec-key 0123456789ABCDEF --dec-key-file key.bin
    expect_status 2
    expect_err 'not both'
    ;;

*)
    echo "unknown group '$group'" >&2
    exit 2
    ;;
esac
echo "ok [$group]"
