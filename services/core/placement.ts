/**
 * Where a job's units run: a GPU class or a CPU class, decided at submission from
 * resources.accelerator and, for "any", the lowest estimated cost per training unit.
 * Pure: the API shows the choice in the dry run and stores it on the Job; the
 * resource class carries the concrete accelerator so the provisioner never guesses.
 *
 * The estimate (seconds per unit, then USD per unit = hourly price / slots x seconds):
 *  - CPU classes train with the fused engine, one unit per core. Measured: about
 *    5 ns per (sample x parameter) on one core, 10 000 x 6 rows through a 6-50-1 MLP
 *    at 18-23 ms per epoch (bench/results/fused-vs-tfjs.md).
 *  - GPU classes train with tfjs-node-gpu, which launches one kernel for each of the
 *    ~120 small ops of a training step: a fixed cost per step dominates small models.
 *    GPU_STEP_S and GPU_S_PER_PARAM_SAMPLE are estimates, not measurements on this
 *    code (no GPU was available to measure them); docs/aws.md says so.
 */
import { acceleratorOf, slotsOf } from './machines.ts';

export const FUSED_S_PER_PARAM_SAMPLE = 5e-9;
export const GPU_STEP_S = 3e-3;
export const GPU_S_PER_PARAM_SAMPLE = 1e-12;

export interface UnitWork {
  /** rows one unit trains on (per epoch) */
  trainRows: number;
  epochs: number;
  batchSize: number;
  /** trainable parameters of the model (0 when unknown) */
  params: number;
}

export interface PlacementOptions {
  accelerator: 'gpu' | 'cpu' | 'any';
  /** the job's own instance types (they decide the accelerator when given) */
  instanceTypes?: string[];
  /** whether the model can train on the fused engine (dense/dropout layers, engine not "tfjs") */
  cpuCapable: boolean;
  work: UnitWork;
  gpuTypes: string[];
  cpuTypes: string[];
  hourlyUsd(type: string): number;
}

export interface Placement {
  accelerator: 'gpu' | 'cpu';
  /** the type the estimate is for (the first the class would launch) */
  instanceType: string;
  estimatedUnitSeconds: number;
  estimatedUsdPerUnit: number;
  reason: string;
}

export function unitSeconds(acc: 'gpu' | 'cpu', w: UnitWork): number {
  const samples = w.trainRows * w.epochs;
  if (acc === 'cpu') return samples * Math.max(1, w.params) * FUSED_S_PER_PARAM_SAMPLE;
  const steps = w.epochs * Math.ceil(w.trainRows / Math.max(1, w.batchSize));
  return steps * GPU_STEP_S + samples * Math.max(1, w.params) * GPU_S_PER_PARAM_SAMPLE;
}

function estimate(acc: 'gpu' | 'cpu', type: string, o: PlacementOptions): Omit<Placement, 'reason'> {
  const s = unitSeconds(acc, o.work);
  return { accelerator: acc, instanceType: type, estimatedUnitSeconds: s, estimatedUsdPerUnit: (o.hourlyUsd(type) / slotsOf(type)) * (s / 3600) };
}

const cheapest = (acc: 'gpu' | 'cpu', types: string[], o: PlacementOptions): Omit<Placement, 'reason'> | undefined =>
  types.map((t) => estimate(acc, t, o)).sort((a, b) => a.estimatedUsdPerUnit - b.estimatedUsdPerUnit)[0];

/** undefined when nothing can run the job (no types of the wanted accelerator). */
export function choosePlacement(o: PlacementOptions): Placement | undefined {
  if (o.instanceTypes?.length) {
    const acc = acceleratorOf(o.instanceTypes[0]);
    if (!acc) return undefined;
    return { ...estimate(acc, o.instanceTypes[0], o), reason: `resources.instanceTypes names ${o.instanceTypes[0]}` };
  }
  const gpu = cheapest('gpu', o.gpuTypes, o);
  const cpu = o.cpuCapable ? cheapest('cpu', o.cpuTypes, o) : undefined;
  if (o.accelerator === 'gpu') return gpu && { ...gpu, reason: 'resources.accelerator is "gpu"' };
  if (o.accelerator === 'cpu') return cpu && { ...cpu, reason: 'resources.accelerator is "cpu"' };
  if (!cpu) return gpu && { ...gpu, reason: 'the model needs TensorFlow.js (not a dense/dropout network, or training.engine "tfjs"), which runs on GPU classes' };
  if (!gpu || cpu.estimatedUsdPerUnit <= gpu.estimatedUsdPerUnit) {
    return { ...cpu, reason: gpu ? `CPU ${fmt(cpu.estimatedUsdPerUnit)} per unit vs GPU ${fmt(gpu.estimatedUsdPerUnit)}` : 'no GPU types configured' };
  }
  return { ...gpu, reason: `GPU ${fmt(gpu.estimatedUsdPerUnit)} per unit vs CPU ${fmt(cpu.estimatedUsdPerUnit)}` };
}

const fmt = (usd: number): string => `$${usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(2)}`;

/** Trainable parameters of a dense/dropout stack on `inputDim` features (0 when a layer is not dense/dropout). */
export function denseParams(layers: Array<{ type: string; units?: number; useBias?: boolean }>, inputDim: number): number {
  let n = 0;
  let width = inputDim;
  for (const l of layers) {
    if (l.type === 'dropout') continue;
    if (l.type !== 'dense' || !l.units) return 0;
    n += width * l.units + (l.useBias === false ? 0 : l.units);
    width = l.units;
  }
  return n;
}
