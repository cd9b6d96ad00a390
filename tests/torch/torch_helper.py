#!/usr/bin/python3
"""The Python side of tests/test_formats_torch.cpp: real torch.save files, torch.load of mindsave's
files, and an independent safetensors reader written from the format's description.

  torch_helper.py fixtures DIR           torch.save files into DIR, each with NAME.json: what it holds
  torch_helper.py dump-pth FILE JSON     torch.load(FILE, weights_only=True) -> the same JSON form
  torch_helper.py dump-safetensors FILE JSON   read FILE by the safetensors rules -> JSON (+ metadata)
  torch_helper.py load-into-model FILE ORIGINAL   load FILE strictly into the fixtures' model: values as in ORIGINAL

The JSON form: {"records": [{"name", "dtype" (MindSpore's name), "shape", "hex"} or {"name", "text"}],
"metadata": {...}}. Exit status 0 when all is well; any check failing raises (exit 1).
Run with /usr/bin/python3: Debian's python3-torch is not seen by a pyenv interpreter.
"""
import binascii
import collections
import json
import os
import struct
import sys

DTYPES = {  # safetensors name -> (MindSpore name, bytes per element)
    "BOOL": ("Bool", 1), "U8": ("UInt8", 1), "I8": ("Int8", 1), "I16": ("Int16", 2), "U16": ("UInt16", 2),
    "F16": ("Float16", 2), "BF16": ("BFloat16", 2), "I32": ("Int32", 4), "U32": ("UInt32", 4),
    "F32": ("Float32", 4), "F64": ("Float64", 8), "I64": ("Int64", 8), "U64": ("UInt64", 8),
}


def torch_dtype_name(t):
    import torch
    return {torch.float32: "Float32", torch.float16: "Float16", torch.bfloat16: "BFloat16",
            torch.float64: "Float64", torch.int64: "Int64", torch.int32: "Int32", torch.int16: "Int16",
            torch.int8: "Int8", torch.uint8: "UInt8", torch.bool: "Bool"}[t.dtype]


def tensor_record(name, t):
    import torch
    c = t.detach().contiguous()
    if c.dtype == torch.bfloat16:
        c = c.view(torch.int16)  # numpy has no bfloat16: the same bits as int16
    return {"name": name, "dtype": torch_dtype_name(t), "shape": list(t.shape), "hex": c.numpy().tobytes().hex()}


def flatten(obj, prefix, out):
    """What mindsave makes of a state dict: dotted names; Python numbers as 0-d tensors; str as text."""
    import torch
    for k, v in obj.items():
        name = prefix + str(k)
        if isinstance(v, dict):
            flatten(v, name + ".", out)
        elif isinstance(v, torch.Tensor):
            out.append(tensor_record(name, v))
        elif isinstance(v, bool):
            out.append({"name": name, "dtype": "Bool", "shape": [], "hex": struct.pack("<?", v).hex()})
        elif isinstance(v, int):
            out.append({"name": name, "dtype": "Int64", "shape": [], "hex": struct.pack("<q", v).hex()})
        elif isinstance(v, float):
            out.append({"name": name, "dtype": "Float64", "shape": [], "hex": struct.pack("<d", v).hex()})
        elif isinstance(v, str):
            out.append({"name": name, "text": v})
        else:
            raise TypeError(f"{name}: {type(v)}")
    return out


def small_model():
    import torch
    torch.manual_seed(7)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(2, 2))


def fixtures(folder):
    import torch
    os.makedirs(folder, exist_ok=True)
    files = {}

    model = small_model()
    model.train()
    model(torch.randn(2, 3, 4, 4))  # one training step of statistics: running_mean/var move, num_batches_tracked = 1
    files["model"] = model.state_dict()

    torch.manual_seed(1)
    files["dtypes"] = collections.OrderedDict([
        ("f16", torch.randn(3, 2).half()), ("bf16", torch.randn(5).bfloat16()), ("f64", torch.randn(2, 2).double()),
        ("i32", torch.arange(-3, 3, dtype=torch.int32)), ("i16", torch.arange(4, dtype=torch.int16) * -300),
        ("i8", torch.tensor([-128, 0, 127], dtype=torch.int8)), ("u8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
        ("b", torch.tensor([True, False, True])), ("i64", torch.tensor([2**40, -5])), ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 3)),
    ])

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    files["views"] = {"base": base, "row": base[2], "slice": base[1:3], "col": base[:, 1], "t": base.t(),
                      "step": base[::2, ::3]}

    torch.manual_seed(2)
    files["params"] = {"w": torch.nn.Parameter(torch.randn(3, 2)), "b": torch.nn.Parameter(torch.zeros(3))}
    files["nested"] = {"model": {"fc.weight": torch.ones(2, 2), "fc.bias": torch.zeros(2)}, "epoch": 3, "lr": 0.5,
                       "flag": True, "note": "h\u00e9llo", 7: torch.tensor([7])}

    for name, obj in files.items():
        torch.save(obj, os.path.join(folder, name + ".pth"))
        with open(os.path.join(folder, name + ".json"), "w") as f:
            json.dump({"records": flatten(obj, "", [])}, f)
    # pickle protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL ...
    torch.save(files["model"], os.path.join(folder, "proto4.pth"), pickle_protocol=4)
    with open(os.path.join(folder, "proto4.json"), "w") as f:
        json.dump({"records": flatten(files["model"], "", [])}, f)


def dump_pth(path, out):
    import torch
    obj = torch.load(path, weights_only=True)
    assert isinstance(obj, collections.OrderedDict), type(obj)
    with open(out, "w") as f:
        json.dump({"records": flatten(obj, "", [])}, f)


def dump_safetensors(path, out):
    """The safetensors rules, read from the format's description, independent of mindsave."""
    data = open(path, "rb").read()
    assert len(data) >= 8, "shorter than the header length"
    (n,) = struct.unpack("<Q", data[:8])
    assert n <= 100_000_000, "header too large"
    assert 8 + n <= len(data), "header runs past the end"
    assert n % 8 == 0, f"header length {n} is not padded to 8 bytes"
    text = data[8:8 + n].decode("utf-8")  # strict: raises on bad UTF-8

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    header = json.loads(text, object_pairs_hook=no_duplicates)
    assert isinstance(header, dict)
    metadata = header.pop("__metadata__", None) or {}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()), metadata
    buffer = data[8 + n:]
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    start = 0
    records = []
    for name, info in entries:
        assert set(info) == {"dtype", "shape", "data_offsets"}, info
        begin, end = info["data_offsets"]
        assert begin == start and end >= begin, f"{name}: offsets {begin}, {end} after {start}"
        dtype, size = DTYPES[info["dtype"]]
        count = 1
        for d in info["shape"]:
            assert isinstance(d, int) and d >= 0
            count *= d
        assert end - begin == count * size, f"{name}: {end - begin} bytes for shape {info['shape']}"
        assert (8 + n + begin) % size == 0, f"{name}: data not aligned to its {size}-byte elements"
        records.append({"name": name, "dtype": dtype, "shape": info["shape"], "hex": buffer[begin:end].hex()})
        start = end
    assert start == len(buffer), f"tensors cover {start} of {len(buffer)} bytes"
    if "crc_num" in metadata:  # MindSpore's: over sorted names, name bytes then tensor bytes
        crc = 0
        for r in sorted(records, key=lambda r: r["name"]):
            crc = binascii.crc32(r["name"].encode("utf-8"), crc)
            crc = binascii.crc32(bytes.fromhex(r["hex"]), crc)
        assert int(metadata["crc_num"]) == crc, f"crc_num {metadata['crc_num']} but the tensors give {crc}"
    # the file order the reference writer uses: larger dtypes first, then by name
    rank = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
    order = [name for name, _ in entries]
    expected = sorted(order, key=lambda k: (-rank.index(header[k]["dtype"]), k))
    assert order == expected, f"file order {order}, reference order {expected}"
    with open(out, "w") as f:
        json.dump({"records": records, "metadata": metadata}, f)


def load_into_model(path, original):
    import torch
    state = torch.load(path, weights_only=True)
    model = small_model()
    model.load_state_dict(state, strict=True)
    expected = torch.load(original, weights_only=True)
    for k, v in model.state_dict().items():  # MindSpore keeps no num_batches_tracked: it comes back as 0
        assert torch.equal(v, expected[k]) or k.endswith("num_batches_tracked"), k


def main(argv):
    command, args = argv[1], argv[2:]
    {"fixtures": fixtures, "dump-pth": dump_pth, "dump-safetensors": dump_safetensors,
     "load-into-model": load_into_model}[command](*args)


if __name__ == "__main__":
    main(sys.argv)
