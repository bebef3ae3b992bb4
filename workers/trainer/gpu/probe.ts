/**
 * The real GPU probe: nvidia-smi, then a separate Node process that loads
 * @tensorflow/tfjs-node-gpu with TensorFlow's own logging on and multiplies two known
 * matrices (probe-child.ts). A separate process because TensorFlow decides about
 * GPU devices once per process and logs it to stderr, where we read it.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseNvidiaSmi, parseTfLog, type GpuProbe, type SmiResult, type TfProbeResult } from './verify.ts';

const CHILD = fileURLToPath(new URL('./probe-child.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export function nvidiaSmi(timeoutMs = 20_000): Promise<SmiResult> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader,nounits'], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) resolve({ ok: false, error: `${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : err.message.split('\n')[0]}${stderr ? `: ${stderr.trim().split('\n')[0]}` : ''}` });
      else resolve({ ok: true, gpus: parseNvidiaSmi(stdout) });
    });
  });
}

export function tensorflowProbe(timeoutMs = 180_000, size = 256): Promise<TfProbeResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', TSX, CHILD, String(size)], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const log = parseTfLog(err);
      let r: { loaded: boolean; loadError?: string; matmul?: TfProbeResult['matmul'] } = { loaded: false, loadError: `probe exited (code ${code}, signal ${signal})` };
      try {
        r = JSON.parse(out.trim().split('\n').pop() ?? '') as typeof r;
      } catch {
        // keep the exit description
      }
      resolve({ ...r, ...log });
    });
  });
}

export const realGpuProbe: GpuProbe = { nvidiaSmi: () => nvidiaSmi(), tensorflow: () => tensorflowProbe() };
