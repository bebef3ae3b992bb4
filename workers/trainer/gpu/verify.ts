/**
 * Proving the GPU works before a worker takes units: the device is visible to the
 * driver (nvidia-smi), TensorFlow registered it (libtensorflow logs "Created device
 * .../device:GPU:0 ... name: <GPU>" and, when the CUDA libraries are missing,
 * "Skipping registering GPU devices..."), and a small matmul ran and gave the right
 * answer. The decision is a pure function of what a probe saw, so each outcome has a
 * unit test with a fake probe (test/unit/trainer-gpu-verify.test.ts); probe.ts is
 * the real probe.
 */

export interface SmiGpu {
  name: string;
  memoryMiB?: number;
  driver?: string;
}

export type SmiResult = { ok: true; gpus: SmiGpu[] } | { ok: false; error: string };

export interface TfProbeResult {
  /** @tensorflow/tfjs-node-gpu loaded (its native binding and libtensorflow) */
  loaded: boolean;
  loadError?: string;
  /** GPU devices libtensorflow reported creating */
  gpuDevices: string[];
  /** the "Skipping registering GPU devices" line, when TensorFlow printed it */
  skipped?: string;
  /** a matmul of known inputs: whether the result was exact, and how long it took */
  matmul?: { ok: boolean; ms: number; error?: string };
}

export interface GpuProbe {
  nvidiaSmi(): Promise<SmiResult>;
  tensorflow(): Promise<TfProbeResult>;
}

export type GpuFailureCode = 'no_driver' | 'no_device' | 'tf_unavailable' | 'tf_no_gpu' | 'matmul_failed';

export type GpuVerdict =
  | { ok: true; gpu: string; gpus: SmiGpu[]; devices: string[]; matmulMs: number }
  | { ok: false; code: GpuFailureCode; reason: string };

/** The backend label a job records for units trained on a verified GPU. */
export const gpuBackendLabel = (gpu: string): string => `tensorflow-gpu (${gpu})`;

export async function verifyGpu(probe: GpuProbe): Promise<GpuVerdict> {
  const smi = await probe.nvidiaSmi();
  if (!smi.ok) return { ok: false, code: 'no_driver', reason: `nvidia-smi failed: ${smi.error} (no NVIDIA driver, or the container was started without --gpus all)` };
  if (!smi.gpus.length) return { ok: false, code: 'no_device', reason: 'nvidia-smi lists no GPU' };
  const tf = await probe.tensorflow();
  if (!tf.loaded) return { ok: false, code: 'tf_unavailable', reason: `@tensorflow/tfjs-node-gpu does not load: ${tf.loadError ?? 'unknown error'}` };
  if (!tf.gpuDevices.length) {
    const why = tf.skipped ? `TensorFlow skipped the GPU: ${tf.skipped}` : 'TensorFlow registered no GPU device';
    return { ok: false, code: 'tf_no_gpu', reason: `${why} (CUDA 11 / cuDNN 8 libraries missing or not matching; the GPU worker image carries them)` };
  }
  if (!tf.matmul?.ok) return { ok: false, code: 'matmul_failed', reason: `a test matmul on the GPU failed: ${tf.matmul?.error ?? 'no result'}` };
  return { ok: true, gpu: tf.gpuDevices[0] || smi.gpus[0].name, gpus: smi.gpus, devices: tf.gpuDevices, matmulMs: tf.matmul.ms };
}

/** `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits` output. */
export function parseNvidiaSmi(csv: string): SmiGpu[] {
  return csv
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name, mem, driver] = l.split(',').map((s) => s.trim());
      const memoryMiB = Number(mem);
      return { name, ...(Number.isFinite(memoryMiB) && mem !== '' ? { memoryMiB } : {}), ...(driver ? { driver } : {}) };
    });
}

/**
 * What libtensorflow logged while starting: the GPU devices it created (their names)
 * and a "Skipping registering GPU devices" line. Both formats as TensorFlow 2.x prints them:
 *   Created device /job:localhost/replica:0/task:0/device:GPU:0 with 14800 MB memory:  -> device: 0, name: Tesla V100-SXM2-16GB, pci bus id: 0000:00:1e.0, compute capability: 7.0
 *   Cannot dlopen some GPU libraries. ... Skipping registering GPU devices...
 */
export function parseTfLog(stderr: string): { gpuDevices: string[]; skipped?: string } {
  const gpuDevices: string[] = [];
  let skipped: string | undefined;
  for (const line of stderr.split('\n')) {
    if (/Created (TensorFlow )?device .*device:GPU:\d+/.test(line)) {
      const m = /name: ([^,]+),/.exec(line);
      gpuDevices.push(m ? m[1].trim() : 'GPU');
    }
    if (line.includes('Skipping registering GPU devices')) skipped = line.replace(/^.*?\]\s*/, '').trim();
  }
  return { gpuDevices, ...(skipped ? { skipped } : {}) };
}
