// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node) on float32 input read from a file and
// writes the first output as float32: the independent runtime test_export compares with predict.
// usage: node run_onnx.js MODEL INPUT.bin OUTPUT.bin N C H W
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, output, ...dims] = process.argv.slice(2);
  const shape = dims.map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, shape);
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log('ran', model, 'output', out.dims.join('x'));
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
