#!/usr/bin/env python3
"""Independent readers for the models mindsave exports, used by test_export.

  onnx MODEL            onnx.checker (full check) on the model, external data loaded;
                        prints "init NAME DTYPE DIMS CRC32" per initializer and "op TYPE" per node.
  mindir MODEL          decodes with protoc's Python code for tests/interop/mind_ir.proto; reads
                        external data exactly as docs/formats.md section 5.4 lays it out (header, sorted, padded);
                        prints "param NAME DTYPE DIMS CRC32" and "op TYPE" (REF:: resolved) per node.
  preprocessor MODEL PB_DIR  decodes ModelProto.preprocessor with protoc's code; checks every field is the text
                        Python's json.dumps writes for its value (MindSpore's _save_dataset_to_mindir) and
                        op_type is "Map"; prints "stage INPUT_COLUMNS OFFLOAD" and "op NAME PARAMS" (PARAMS as
                        json.dumps of the parsed value), and "input NAME DIMS" for each graph input.
  structure OURS REF    checks that OURS has the structure of the real MindSpore file REF: for every
                        primitive type both use, the same attribute names; parameter, input and node
                        naming conventions; model-level fields.
Exit status 0 on success; a message and status 1 on any mismatch.
"""
import os
import re
import sys
import zlib


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_onnx(path):
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)  # loads external data from beside the model
    onnx.checker.check_model(model, full_check=True)
    if model.ir_version < 7 or not any(o.domain in ("", "ai.onnx") and o.version >= 13 for o in model.opset_import):
        fail("expected ir_version >= 7 and opset >= 13")
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        print("init", t.name, t.data_type, "x".join(str(d) for d in t.dims), zlib.crc32(a.tobytes()))
    for n in model.graph.node:
        print("op", n.op_type)


def load_mindir(path, pb_dir):
    sys.path.insert(0, pb_dir)
    import mind_ir_pb2
    m = mind_ir_pb2.ModelProto()
    with open(path, "rb") as f:
        m.ParseFromString(f.read())
    return m, mind_ir_pb2


def parameter_bytes(path, t):
    if t.HasField("external_data"):
        e = t.external_data
        data_path = os.path.join(os.path.dirname(path), e.location)
        with open(data_path, "rb") as f:
            data = f.read()
        if data[0] != 1 or any(data[1:64]):
            fail("data file header is not 0x01 + 63 zero bytes")
        if e.offset % 64 or e.offset < 64:
            fail("offset %d of %s is not 64-aligned past the header" % (e.offset, t.ref_key))
        chunk = data[e.offset:e.offset + e.length]
        pad = (64 - e.length % 64) % 64
        if any(data[e.offset + e.length:e.offset + e.length + pad]):
            fail("padding after %s is not zero" % t.ref_key)
        return chunk
    return t.raw_data


def check_mindir(path, pb_dir):
    m, pb = load_mindir(path, pb_dir)
    if m.producer_name != "MindSpore" or not m.model_version or m.ir_version != "0.1.1":
        fail("model-level fields: %r %r %r" % (m.producer_name, m.model_version, m.ir_version))
    g = m.graph
    prims = {p.name: p.op_type for p in m.primitives}
    external = [t for t in g.parameter if t.HasField("external_data")]
    if external:  # the split layout: sorted by name, each padded to 64, contiguous from offset 64
        order = sorted(external, key=lambda t: t.ref_key)
        offset = 64
        for t in order:
            if t.external_data.offset != offset:
                fail("%s at offset %d, expected %d" % (t.ref_key, t.external_data.offset, offset))
            offset += t.external_data.length + (64 - t.external_data.length % 64) % 64
            if t.raw_data:
                fail("split parameter %s still has raw_data" % t.ref_key)
        size = os.path.getsize(os.path.join(os.path.dirname(path), external[0].external_data.location))
        if size != offset:
            fail("data file is %d bytes, layout says %d" % (size, offset))
    for t in g.parameter:
        if t.name != g.name + ":" + t.ref_key:
            fail("parameter name %r is not '<graph>:<ref_key>'" % t.name)
        print("param", t.ref_key, t.data_type, "x".join(str(d) for d in t.dims), zlib.crc32(parameter_bytes(path, t)))
    for n in g.node:
        if n.op_type.startswith("REF::"):
            ref = n.op_type[5:]
            if ref not in prims:
                fail("node %s refers to missing primitive %s" % (n.name, ref))
            print("op", prims[ref])
        else:
            print("op", n.op_type)


def structure(ours_path, ref_path, pb_dir):
    ours, _ = load_mindir(ours_path, pb_dir)
    ref, _ = load_mindir(ref_path, pb_dir)
    for field in ("ir_version", "producer_name", "little_endian", "mind_ir_version"):
        if getattr(ours, field) != getattr(ref, field):
            fail("%s: ours %r, MindSpore's %r" % (field, getattr(ours, field), getattr(ref, field)))

    def prim_attrs(m):
        out = {}
        for p in m.primitives:
            out.setdefault(p.op_type, set()).update(a.name for a in p.attribute)
        return out

    po, pr = prim_attrs(ours), prim_attrs(ref)
    common = set(po) & set(pr)
    if not {"Conv2D", "ReLU", "MaxPool", "MatMul", "Load", "MakeTuple", "UpdateState", "Depend"} <= common:
        fail("primitive types in common: %s" % sorted(common))
    for op in sorted(common):
        if po[op] != pr[op]:
            fail("%s attributes differ: ours %s, MindSpore's %s" % (op, sorted(po[op]), sorted(pr[op])))
    for m, who in ((ours, "ours"), (ref, "MindSpore's")):
        g = m.graph
        for n in g.node:
            if n.op_type == "Constant":
                continue
            if not n.op_type.startswith("REF::") or not re.fullmatch(re.escape(g.name) + r":[^:]+:\d+", n.name):
                fail("%s node %r / %r breaks the naming convention" % (who, n.name, n.op_type))
            if n.output != [n.name] or not n.domain.startswith("Default/") or n.attribute[0].name != "shape":
                fail("%s node %r: output, domain or shape attribute" % (who, n.name))
        for t in g.parameter:
            if t.name != g.name + ":" + t.ref_key or t.compression_type != 0:
                fail("%s parameter %r" % (who, t.name))
        for i in g.input:
            if not i.name.startswith(g.name + ":"):
                fail("%s input %r" % (who, i.name))
        if g.output[0].name not in [n.name for n in g.node]:
            fail("%s output is not a node" % who)
        ops = [n.op_type.split(":")[2] if n.op_type.startswith("REF::") else n.op_type for n in g.node]
        if ops[-1] != "Depend" or ops[-2] != "UpdateState" or ops[-3] != "MakeTuple":
            fail("%s graph does not end in MakeTuple, UpdateState, Depend: %s" % (who, ops[-3:]))
    print("same structure")


def preprocessor(path, pb_dir):
    import json
    m, _ = load_mindir(path, pb_dir)
    if not m.HasField("preprocessor"):
        fail("no preprocessor field")
    for op in m.preprocessor.op:
        for field in ("input_columns", "output_columns", "op_type", "operations"):
            text = getattr(op, field)
            if json.dumps(json.loads(text)) != text:
                fail("%s is not json.dumps text: %r" % (field, text))
        if not op.HasField("offload"):
            fail("offload is not set (MindSpore always sets it)")
        if op.HasField("project_columns"):
            fail("project_columns is set (MindSpore never sets it)")
        if json.loads(op.op_type) != "Map":
            fail("op_type %r is not \"Map\"" % op.op_type)
        print("stage", json.dumps(json.loads(op.input_columns)), json.dumps(json.loads(op.output_columns)), op.offload)
        for o in json.loads(op.operations):
            if sorted(o.keys()) != ["tensor_op_name", "tensor_op_params"]:
                fail("operation keys %r" % sorted(o.keys()))
            params = o["tensor_op_params"]
            if isinstance(params, dict) and list(params.keys()) != sorted(params.keys()):
                fail("%s params keys are not sorted as MindSpore's to_json writes them" % o["tensor_op_name"])
            print("op", o["tensor_op_name"], json.dumps(params))
    for i in m.graph.input:
        print("input", i.name, "x".join(str(d) for d in i.tensor[0].dims) if len(i.tensor) else "")


def main():
    mode = sys.argv[1]
    if mode == "onnx":
        check_onnx(sys.argv[2])
    elif mode == "mindir":
        check_mindir(sys.argv[2], sys.argv[3])
    elif mode == "preprocessor":
        preprocessor(sys.argv[2], sys.argv[3])
    elif mode == "structure":
        structure(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
