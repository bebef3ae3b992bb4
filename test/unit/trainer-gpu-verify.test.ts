/** GPU verification: one fake probe per outcome, and the parsers of nvidia-smi and TensorFlow's device log. */
import { describe, expect, it } from 'vitest';
import { gpuBackendLabel, parseNvidiaSmi, parseTfLog, verifyGpu, type GpuProbe, type SmiResult, type TfProbeResult } from '../../workers/trainer/gpu/verify.ts';

const V100 = 'Tesla V100-SXM2-16GB';
const smiOk: SmiResult = { ok: true, gpus: [{ name: V100, memoryMiB: 16384, driver: '570.195.03' }] };
const tfOk: TfProbeResult = { loaded: true, gpuDevices: [V100], matmul: { ok: true, ms: 3.2 } };

function probe(smi: SmiResult, tf: TfProbeResult): GpuProbe & { tfCalls: number } {
  const p = { tfCalls: 0, nvidiaSmi: async () => smi, tensorflow: async () => (p.tfCalls++, tf) };
  return p;
}

describe('verifyGpu', () => {
  it.each([
    ['no driver', probe({ ok: false, error: 'not installed' }, tfOk), 'no_driver', /nvidia-smi failed: not installed/],
    ['no device', probe({ ok: true, gpus: [] }, tfOk), 'no_device', /lists no GPU/],
    ['tfjs-node-gpu does not load', probe(smiOk, { loaded: false, loadError: 'libcudart.so.11.0: cannot open shared object file', gpuDevices: [] }), 'tf_unavailable', /libcudart\.so\.11\.0/],
    ['TensorFlow skipped the GPU', probe(smiOk, { loaded: true, gpuDevices: [], skipped: 'Cannot dlopen some GPU libraries. Skipping registering GPU devices...' }), 'tf_no_gpu', /skipped the GPU: Cannot dlopen/],
    ['no GPU device registered', probe(smiOk, { loaded: true, gpuDevices: [] }), 'tf_no_gpu', /registered no GPU device/],
    ['matmul wrong', probe(smiOk, { loaded: true, gpuDevices: [V100], matmul: { ok: false, ms: 1, error: '12 of 65536 entries wrong' } }), 'matmul_failed', /12 of 65536 entries wrong/],
    ['matmul never ran', probe(smiOk, { loaded: true, gpuDevices: [V100] }), 'matmul_failed', /no result/],
  ])('%s -> %s', async (_name, p, code, reason) => {
    const v = await verifyGpu(p);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.code).toBe(code);
    expect(v.reason).toMatch(reason);
  });

  it('does not start TensorFlow when the driver sees no GPU', async () => {
    const p = probe({ ok: false, error: 'NVIDIA-SMI has failed' }, tfOk);
    await verifyGpu(p);
    expect(p.tfCalls).toBe(0);
  });

  it('passes with the name TensorFlow registered, and labels the backend with it', async () => {
    const v = await verifyGpu(probe(smiOk, tfOk));
    expect(v).toMatchObject({ ok: true, gpu: V100, matmulMs: 3.2 });
    expect(gpuBackendLabel(V100)).toBe('tensorflow-gpu (Tesla V100-SXM2-16GB)');
  });
});

describe('parsers', () => {
  it('reads nvidia-smi CSV rows', () => {
    expect(parseNvidiaSmi('Tesla V100-SXM2-16GB, 16384, 570.195.03\nNVIDIA A10G, 23028, 580.105.08\n')).toEqual([
      { name: 'Tesla V100-SXM2-16GB', memoryMiB: 16384, driver: '570.195.03' },
      { name: 'NVIDIA A10G', memoryMiB: 23028, driver: '580.105.08' },
    ]);
    expect(parseNvidiaSmi('\n')).toEqual([]);
  });

  it("finds created GPU devices and the skip line in TensorFlow's log", () => {
    const created = '2026-11-28 23:50:01.123456: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1532] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 14800 MB memory:  -> device: 0, name: Tesla V100-SXM2-16GB, pci bus id: 0000:00:1e.0, compute capability: 7.0';
    expect(parseTfLog(`noise\n${created}\n`)).toEqual({ gpuDevices: ['Tesla V100-SXM2-16GB'] });
    const skip = '2026-11-28 23:50:01.1: W tensorflow/core/common_runtime/gpu/gpu_device.cc:1850] Cannot dlopen some GPU libraries. Please make sure the missing libraries mentioned above are installed properly if you would like to use GPU. Skipping registering GPU devices...';
    const r = parseTfLog(skip);
    expect(r.gpuDevices).toEqual([]);
    expect(r.skipped).toMatch(/^Cannot dlopen some GPU libraries.*Skipping registering GPU devices/);
  });
});
