# Cross-check of .ckpt files with Python's protobuf and protoc's checkpoint_pb2: every file must parse,
# re-serialize record by record to its own bytes, and hold what mindsave reads (and what it saved).
"""Checks .ckpt files against MindSpore's schema with Python protobuf (run with /usr/bin/python3).

  check_ckpt.py check --pb-dir DIR --dump DUMP.json [--manifest MANIFEST.json] FILE...
      DUMP.json is `ckpt_dump dump FILE...` (what mindsave reads); MANIFEST.json is what
      `ckpt_dump write` saved, from which the raw records are predicted by MindSpore's rules.
  check_ckpt.py ctest --pb-dir DIR --helper CKPT_DUMP --work DIR --fixtures DIR
      The CTest driver: writes files with the helper, dumps them and every fixture, checks all.
      Exits 4 (skipped) without google.protobuf or without the fixtures, unless CI=true.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import zlib

SKIP = 4
IN_CI = os.environ.get("CI") == "true"

# Element sizes by MindSpore's tensor_type; "str" is numpy's <U: 4 bytes per code point.
TYPE_SIZE = {"Bool": 1, "Int8": 1, "UInt8": 1, "Int16": 2, "UInt16": 2, "Float16": 2, "BFloat16": 2,
             "Int32": 4, "UInt32": 4, "Float32": 4, "Int64": 8, "UInt64": 8, "Float64": 8, "str": 4}


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def skip_or_fail(reason):
    if IN_CI:
        print(f"FAILED (CI=true): {reason}", file=sys.stderr)
        sys.exit(1)
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def import_generated(pb_dir):
    try:
        import google.protobuf  # noqa: F401
    except ImportError as e:
        skip_or_fail(f"{sys.executable} cannot import google.protobuf ({e}); apt-get install python3-protobuf")
    sys.path.insert(0, pb_dir)
    import checkpoint_pb2
    return checkpoint_pb2


def describe(rec):
    tag, dims, ttype, content = rec
    if isinstance(content, str):  # a decoded str value
        return f"(tag {tag!r}, dims {dims}, type {ttype!r}, text {content!r})"
    more = "..." if len(content) > 12 else ""
    return f"(tag {tag!r}, dims {dims}, type {ttype!r}, {len(content)} bytes {content[:12].hex()}{more})"


def split_footer(data):
    """MindSpore's loader: bytes [-17:-10] == b"crc_num" is a footer with a 10-byte big-endian CRC."""
    if len(data) >= 17 and data[-17:-10] == b"crc_num":
        return data[:-17], int.from_bytes(data[-10:], "big")
    return data, None


def parse(pb, body):
    message = pb.Checkpoint()
    message.ParseFromString(body)
    expect(message.IsInitialized(), "a required field is missing")
    raws = []
    for v in message.value:
        expect(v.WhichOneof("value") == "tensor", f"record {v.tag!r} is not a tensor")
        raws.append((v.tag, list(v.tensor.dims), v.tensor.tensor_type, v.tensor.tensor_content))
    return message, raws


def reserialize(pb, message):
    """MindSpore's writer: one fresh Checkpoint with one value per record, serialized and appended."""
    out = bytearray()
    for v in message.value:
        one = pb.Checkpoint()
        one.value.add().CopyFrom(v)
        out += one.SerializeToString()
    return bytes(out)


def join_like_loader(raws):
    """Consecutive pieces of a tag joined (dims of the last); dims [0] holding one element is 0-d."""
    joined = []
    for tag, dims, ttype, content in raws:
        if joined and joined[-1][0] == tag:
            expect(joined[-1][2] == ttype, f"pieces of {tag!r} disagree on type")
            joined[-1] = (tag, dims, ttype, joined[-1][3] + content)
        else:
            joined.append((tag, dims, ttype, content))
    out = []
    for tag, dims, ttype, content in joined:
        if ttype == "str" or (dims == [0] and len(content) == TYPE_SIZE.get(ttype)):
            dims = []
        out.append((tag, dims, ttype, content))
    return out


def predict(saved, writer, slice_bytes):
    """The raw records MindSpore's save_checkpoint writes for these values (docs/formats.md sections 1.4, 1.5)."""
    legacy = writer == "2.2"
    out = []
    for s in saved:
        tag = bytes.fromhex(s["tag_hex"]).decode("utf-8")
        ttype = s["tensor_type"]
        if s["is_str"]:  # numpy's <U n buffer; np.array("") is <U1, one NUL character
            dims, content = [0], bytes.fromhex(s["text_hex"]).decode("utf-8").encode("utf-32-le") or bytes(4)
        else:
            dims, content = list(s["shape"]), bytes.fromhex(s["content"])
            if not dims and legacy:
                dims = [0]
        n = len(content)
        if n == 0:
            if legacy:  # >= 2.3 loops over byte chunks zero times: no record
                out.append((tag, dims, ttype, b""))
            continue
        if n <= slice_bytes:
            out.append((tag, dims, ttype, content))
            continue
        parts = -(-n // slice_bytes)
        if not legacy:
            out += [(tag, dims, ttype, content[i:i + slice_bytes]) for i in range(0, n, slice_bytes)]
            continue
        size = TYPE_SIZE[ttype]  # numpy.array_split of the flattened elements
        elems = n // size
        base, extra = divmod(elems, parts)
        off = 0
        for p in range(parts):
            length = (base + (1 if p < extra else 0)) * size
            out.append((tag, dims, ttype, content[off:off + length]))
            off += length
    return out


def same_records(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise Mismatch(f"{what}: record {i}: got {describe(g)}, want {describe(w)}")
    expect(len(got) == len(want), f"{what}: {len(got)} records, want {len(want)}")


def one_record(pb, tag, dims, ttype, content):
    one = pb.Checkpoint()
    v = one.value.add()
    v.tag = tag
    v.tensor.dims.extend(dims)
    v.tensor.tensor_type = ttype
    v.tensor.tensor_content = content
    return one


def check_file(pb, path, dumped, manifest=None, manifest_entry=None):
    with open(path, "rb") as f:
        data = f.read()
    body, crc = split_footer(data)
    if crc is not None:
        expect(crc == zlib.crc32(body), f"footer CRC {crc:#x}, zlib.crc32 of the records {zlib.crc32(body):#x}")
    expect(dumped["crc"] == crc, f"mindsave read footer CRC {dumped['crc']}, Python {crc}")
    message, raws = parse(pb, body)
    expect(reserialize(pb, message) == body, "re-serializing record by record does not give the file's bytes")

    mine = []
    for r in dumped["records"]:
        tag = bytes.fromhex(r["tag_hex"]).decode("utf-8")
        if r["is_str"]:
            mine.append((tag, [], "str", bytes.fromhex(r["text_hex"]).decode("utf-8")))
        else:
            mine.append((tag, r["shape"], r["tensor_type"], bytes.fromhex(r["content"])))
    joined = [(t, d, ty, c.decode("utf-32-le").rstrip("\0") if ty == "str" else c)
              for t, d, ty, c in join_like_loader(raws)]
    same_records(mine, joined, "mindsave's read vs Python's")

    if manifest_entry is not None:
        expect((crc is not None) == manifest_entry["crc"], f"footer present: {crc is not None}")
        predicted = predict(manifest["saved"], manifest_entry["writer"], manifest["slice_bytes"])
        same_records(raws, predicted, "records vs MindSpore's rules")
        fresh = b"".join(
            one_record(pb, tag, dims, ttype, content).SerializeToString() for tag, dims, ttype, content in predicted)
        if manifest_entry["crc"]:
            fresh += b"crc_num" + zlib.crc32(fresh).to_bytes(10, "big")
        expect(fresh == data, "Python protobuf's serialization of the predicted records differs from the file")
    return len(raws), len(mine)


def run_checks(pb, files, dump, manifest=None):
    by_path = {os.path.abspath(f["path"]): f for f in dump["files"]}
    entries = {e["file"]: e for e in manifest["files"]} if manifest else {}
    failures = 0
    for path in files:
        name = os.path.basename(path)
        try:
            dumped = by_path.get(os.path.abspath(path))
            expect(dumped is not None, "not in the dump")
            raw_count, joined_count = check_file(pb, path, dumped, manifest, entries.get(name))
            print(f"ok   {name}: {raw_count} records on the wire, {joined_count} tensors"
                  f"{' (matches the manifest)' if name in entries else ''}")
        except Exception as e:  # report every file, then fail
            failures += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    return failures


def helper_dump(helper, files):
    out = subprocess.run([helper, "dump", *files], check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("check")
    c.add_argument("--pb-dir", required=True)
    c.add_argument("--dump", required=True)
    c.add_argument("--manifest")
    c.add_argument("files", nargs="+")
    t = sub.add_parser("ctest")
    t.add_argument("--pb-dir", required=True)
    t.add_argument("--helper", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--fixtures", required=True)
    args = parser.parse_args()
    pb = import_generated(args.pb_dir)

    if args.mode == "check":
        with open(args.dump) as f:
            dump = json.load(f)
        manifest = None
        if args.manifest:
            with open(args.manifest) as f:
                manifest = json.load(f)
        return 1 if run_checks(pb, args.files, dump, manifest) else 0

    shutil.rmtree(args.work, ignore_errors=True)
    subprocess.run([args.helper, "write", args.work], check=True)
    with open(os.path.join(args.work, "manifest.json")) as f:
        manifest = json.load(f)
    written = [os.path.join(args.work, e["file"]) for e in manifest["files"]]
    failures = run_checks(pb, written, helper_dump(args.helper, written), manifest)

    fixtures_dir = args.fixtures
    if os.environ.get("MINDSAVE_SHARED_DIR"):  # the same override the C++ tests honour
        fixtures_dir = os.path.join(os.environ["MINDSAVE_SHARED_DIR"], "fixtures", "mindspore", "ckpt")
    have_fixtures = os.path.isdir(fixtures_dir)
    if have_fixtures:
        # a real damaged file (named _CORRUPTED_) is not a checkpoint to compare: test_ckpt checks it is refused
        fixtures = sorted(os.path.join(fixtures_dir, n) for n in os.listdir(fixtures_dir)
                          if n.endswith(".ckpt") and "_CORRUPTED_" not in n)
        if len(fixtures) < 7:
            print(f"FAIL: only {len(fixtures)} fixtures in {fixtures_dir}")
            failures += 1
        if fixtures:
            failures += run_checks(pb, fixtures, helper_dump(args.helper, fixtures))
    if failures:
        print(f"{failures} file(s) failed")
        return 1
    if not have_fixtures:
        skip_or_fail(f"fixtures not found: {fixtures_dir} (set -DMINDSAVE_SHARED_DIR=... or MINDSAVE_SHARED_DIR)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
