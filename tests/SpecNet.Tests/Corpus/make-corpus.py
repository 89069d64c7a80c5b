#!/usr/bin/env python3
"""Writes the hostile-input corpus: broken and malicious specs, weights, IDX files and images.
Each file is listed in expected.txt with the command it is fed to, the exit code and a fragment of
the one error SpecNet must give. Run it again to remake the files (they are committed)."""
import gzip, json, os, struct, zlib

here = os.path.dirname(os.path.abspath(__file__))
rows = []

def put(rel, data, command, code, fragment):
    path = os.path.join(here, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    rows.append(f"{rel} | {command} | {code} | {fragment}")

GOOD = "input: { shape: [8, 8, 1] }\nlayers:\n  - flatten\n  - dense: { units: 3, activation: softmax }\n"

# ---- specs (specnet check FILE)
put("specs/empty.yaml", "", "check", 2, "the spec is empty")
put("specs/not-utf8.yaml", b"name: caf\xe9\n" + GOOD.encode(), "check", 1, "not UTF-8")
bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(f"a{i}: &a{i} [*a{i-1 if i > 1 else ''}, *a{i-1 if i > 1 else ''}, *a{i-1 if i > 1 else ''}]\n" for i in range(1, 10))
put("specs/alias-bomb.yaml", bomb, "check", 2, "aliases")
put("specs/deep-nesting.yaml", "layers: " + "[" * 10000 + "]" * 10000 + "\n", "check", 2, "nests deeper than 32 levels")
put("specs/huge-number.yaml", GOOD.replace("units: 3", "units: 99999999999999999999"), "check", 2, "'units' must be")
put("specs/negative.yaml", GOOD.replace("units: 3", "units: -3"), "check", 2, "'units' must be a positive whole number")
put("specs/nan-rate.yaml", GOOD.replace("  - flatten\n", "  - flatten\n  - dropout: { rate: .nan }\n"), "check", 2, "'rate' must be a number")
put("specs/duplicate-key.yaml", GOOD.replace("units: 3,", "units: 3, units: 4,"), "check", 2, "'units' is given twice")
put("specs/duplicate-layer-name.yaml", GOOD.replace("  - flatten\n", "  - flatten: { name: x }\n  - dense: { name: x, units: 4 }\n"), "check", 2, "two layers are named 'x'")
put("specs/binary-garbage.yaml", bytes(range(256)) * 4, "check", 1, "not UTF-8")
put("specs/huge-input.yaml", GOOD.replace("[8, 8, 1]", "[65536, 65536, 3]"), "check", 2, "more than 2^26 values")
put("specs/tab-indented.yaml", GOOD.replace("  - flatten", "\t- flatten"), "check", 2, "invalid YAML")

# ---- weights (specnet inspect FILE)
def st(header, data_len):
    h = json.dumps(header).encode()
    return struct.pack('<Q', len(h)) + h + bytes(data_len)
ok = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
put("weights/truncated.safetensors", st(ok, 8)[:20], "inspect", 1, "runs past the end")
put("weights/header-past-end.safetensors", struct.pack('<Q', 1 << 40) + b"{}", "inspect", 1, "runs past the end")
put("weights/header-huge.safetensors", struct.pack('<Q', 0xFFFFFFFFFFFFFFFF) + b"{}", "inspect", 1, "runs past the end")
put("weights/overlapping.safetensors", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), "inspect", 1, "overlap")
put("weights/out-of-range.safetensors", st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8), "inspect", 1, "outside the 8 data bytes")
put("weights/wrong-dtype.safetensors", st({"w": {"dtype": "Q4_K", "shape": [2], "data_offsets": [0, 8]}}, 8), "inspect", 1, "dtype Q4_K")
put("weights/shape-mismatch.safetensors", st({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8), "inspect", 1, "needs 12 bytes")
put("weights/not-json.safetensors", struct.pack('<Q', 5) + b"{nope", "inspect", 1, "not valid JSON")
put("weights/empty.safetensors", b"", "inspect", 1, "too short")
nan = json.dumps({"dense_1.weight": {"dtype": "F32", "shape": [3, 64], "data_offsets": [0, 768]}, "dense_1.bias": {"dtype": "F32", "shape": [3], "data_offsets": [768, 780]}}).encode()
nan_data = struct.pack('<192f', *([0.0] * 191 + [float('nan')])) + struct.pack('<3f', 0, float('inf'), 0)
put("weights/nan-values.safetensors", struct.pack('<Q', len(nan)) + nan + nan_data, "verify", 2, "non-finite value")

# ---- IDX (specnet train on a spec whose data names them)
def idx(dims, payload, gz=False):
    raw = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack('>I', d) for d in dims) + payload
    return gzip.compress(raw) if gz else raw
labels_ok = idx([4], bytes([0, 1, 2, 0]))
images_ok = idx([4, 8, 8], bytes(256))
def idx_case(name, images, labels, fragment):
    put(f"idx/{name}/images.idx", images, "train", 1, fragment)
    put(f"idx/{name}/labels.idx", labels, "-", 0, "-")
    put(f"idx/{name}/spec.yaml", GOOD + "data: { train: { images: images.idx, labels: labels.idx } }\n", "-", 0, "-")
idx_case("bad-magic", b"\x08\x08\x08\x03" + images_ok[4:], labels_ok, "bad magic number")
idx_case("truncated", images_ok[:100], labels_ok, "file holds")
idx_case("count-mismatch", idx([5, 8, 8], bytes(320)), labels_ok, "holds 5 images but")
idx_case("wrong-rank", idx([4, 64], bytes(256)), labels_ok, "rank 3")
noise = bytes((i * 7919 + 13) % 251 for i in range(256))  # incompressible enough that a cut gzip stream is truly cut
idx_case("truncated-gzip", gzip.compress(idx([4, 8, 8], noise))[:150], labels_ok, "truncated")
idx_case("label-out-of-range", images_ok, idx([4], bytes([0, 1, 9, 0])), "go up to 9")
rows = [r for r in rows if " | - | " not in r]

# ---- images (specnet predict the 0.1.0 fixture, an 8x8 grayscale model)
def png(w, h, color_type, bit_depth, pixels):
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack('>IIBBBBB', w, h, bit_depth, color_type, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")
gray8 = png(8, 8, 0, 8, b"".join(b"\x00" + bytes([40 * (x == 3) + 20 for x in range(8)]) for _ in range(8)))
put("images/truncated.png", gray8[:40], "predict", 1, "not a readable image")
put("images/zero-size.png", b"", "predict", 1, "truncated.png" if False else "zero-size.png")
put("images/not-an-image.png", b"%PDF-1.4 this is not a png", "predict", 1, "not a readable image")
put("images/wrong-size.png", png(9, 7, 0, 8, b"".join(b"\x00" + bytes(9) for _ in range(7))), "predict", 1, "the model takes 8x8")
put("images/huge-dimensions.png", png(100000, 100000, 0, 8, b"")[:33] + b"\x00" * 12, "predict", 1, "huge-dimensions.png")
# Accepted and converted: 16-bit grayscale and RGBA become the model's 8-bit grayscale.
put("images/sixteen-bit.png", png(8, 8, 0, 16, b"".join(b"\x00" + bytes(16) for _ in range(8))), "predict", 0, "sixteen-bit.png:")
put("images/rgba.png", png(8, 8, 6, 8, b"".join(b"\x00" + bytes([200, 10, 10, 255] * 8) for _ in range(8))), "predict", 0, "rgba.png:")

# ---- ONNX models (specnet import FILE -o DIR): protobuf written by hand, so each defect is exactly one
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def key(field, wire): return varint(field << 3 | wire)
def num(field, n): return key(field, 0) + varint(n)
def msg(field, payload): return key(field, 2) + varint(len(payload)) + (payload.encode() if isinstance(payload, str) else payload)
def value_info(name, dims):
    shape = b"".join(msg(1, num(1, d)) for d in dims)
    return msg(1, name) + msg(2, msg(1, num(1, 1) + msg(2, shape)))
def node(op, inputs, outputs, name, attributes=b""):
    return b"".join(msg(1, i) for i in inputs) + b"".join(msg(2, o) for o in outputs) + msg(3, name) + msg(4, op) + attributes
def tensor(name, dims, data_type=1, raw=None, floats=()):
    body = b"".join(num(1, d) for d in dims) + num(2, data_type) + msg(8, name)
    if floats: body += msg(4, struct.pack(f'<{len(floats)}f', *floats))
    if raw is not None: body += msg(9, raw)
    return body
def model(nodes, initializers=(), inputs=(("x", (1, 4)),), outputs=(("y", (1, 4)),)):
    graph = b"".join(msg(1, n) for n in nodes) + msg(2, "g") + b"".join(msg(5, t) for t in initializers)
    graph += b"".join(msg(11, value_info(n, d)) for n, d in inputs) + b"".join(msg(12, value_info(n, d)) for n, d in outputs)
    return num(1, 8) + msg(2, "corpus") + msg(8, num(2, 13)) + msg(7, graph)
dense = model([node("Gemm", ["x", "w", "b"], ["y"], "fc", msg(5, msg(1, "transB") + num(3, 1) + num(20, 2)))],
              [tensor("w", (4, 4), floats=[0.5] * 16), tensor("b", (4,), floats=[0.0] * 4)])
put("onnx/truncated.onnx", dense[:len(dense) // 2], "import", 1, "not a valid ONNX file")
put("onnx/huge-field.onnx", num(1, 8) + key(7, 2) + varint(1 << 40) + b"\x00" * 16, "import", 1, "a field of 1,099,511,627,776 bytes")
put("onnx/overlong-number.onnx", key(1, 0) + b"\xff" * 11, "import", 1, "a number longer than 10 bytes")
put("onnx/huge-tensor.onnx", model([node("Relu", ["x"], ["y"], "r")], [tensor("w", (1 << 20, 1 << 20))]), "import", 1, "declares more than")
put("onnx/raw-size-mismatch.onnx", model([node("Relu", ["x"], ["y"], "r")], [tensor("w", (4,), raw=b"\x00" * 3)]), "import", 1, "holds 3 bytes for 4 values")
put("onnx/int8-weights.onnx", model([node("Relu", ["x"], ["y"], "r")], [tensor("w", (4,), data_type=3, raw=b"\x00" * 4)]), "import", 1, "SpecNet imports float32 models")
put("onnx/cycle.onnx", model([node("Relu", ["b"], ["a"], "first"), node("Relu", ["a"], ["y"], "second"), node("Relu", ["y"], ["b"], "third")]), "import", 1, "which no earlier node writes")
put("onnx/no-graph.onnx", num(1, 8) + msg(2, "nothing"), "import", 1, "not an ONNX model (no graph)")
put("onnx/unsupported-op.onnx", model([node("LSTM", ["x"], ["y"], "rnn")]), "import", 2, "node 'rnn' (LSTM): this op is not supported")
nested = node("Relu", ["x"], ["y"], "leaf")
for depth in range(5000):  # subgraphs nested 5,000 deep in If attributes: skipped as bytes, never recursed into
    nested = node("If", ["x"], ["y"], f"if{depth}", msg(5, msg(1, "then_branch") + msg(6, msg(1, nested)) + num(20, 5)))
put("onnx/nested-graphs.onnx", model([nested]), "import", 2, "(If): this op is not supported")

with open(os.path.join(here, "expected.txt"), "w") as f:
    f.write("# file | command | exit code | fragment of the error (or of the output, for exit 0). Made by make-corpus.py.\n")
    f.write("\n".join(rows) + "\n")
