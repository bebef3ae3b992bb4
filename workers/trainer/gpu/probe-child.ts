/**
 * Run by probe.ts in its own process: loads @tensorflow/tfjs-node-gpu and multiplies
 * an n x n matrix of ones by one of twos (every entry of the product is exactly 2n).
 * Prints one JSON line on stdout: {loaded, loadError?, matmul?}. TensorFlow's device
 * log goes to stderr, which the parent reads.
 */
const n = Number(process.argv[2] ?? 256);

async function main(): Promise<void> {
  let tf: typeof import('@tensorflow/tfjs');
  try {
    tf = (await import(/* @vite-ignore */ '@tensorflow/tfjs-node-gpu' as string)) as typeof import('@tensorflow/tfjs');
    await tf.setBackend('tensorflow');
    await tf.ready();
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ loaded: false, loadError: (e as Error).message.split('\n')[0] })}\n`);
    return;
  }
  try {
    const a = tf.ones([n, n]);
    const b = tf.fill([n, n], 2);
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    const data = await c.data();
    const ms = performance.now() - t0;
    let bad = 0;
    for (const v of data) if (v !== 2 * n) bad++;
    tf.dispose([a, b, c]);
    process.stdout.write(`${JSON.stringify({ loaded: true, matmul: bad === 0 ? { ok: true, ms } : { ok: false, ms, error: `${bad} of ${data.length} entries wrong` } })}\n`);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ loaded: true, matmul: { ok: false, ms: 0, error: (e as Error).message.split('\n')[0] } })}\n`);
  }
}

await main();
