/**
 * The contract between the unit runner and a training engine (tfjs here, the fused
 * pure-JS MLP elsewhere), plus the pieces every engine shares: checkpoint shapes,
 * Keras-style early stopping that survives checkpoint/resume, weight serialization.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { ResolvedJobSpec } from '../../../services/core/job-defaults.ts';
import { NightshiftError } from '../../../services/core/errors.ts';
import type { BackendName } from '../../../services/platform/tf-backend.ts';
import type { ModelMeta } from './dataset.ts';
import type { NormalizedLayer } from '../../../services/core/layers.ts';

/** One epoch of history, Keras names: {epoch, loss, val_loss?, accuracy?, val_accuracy?, mae?, ...} */
export type EpochLogs = { epoch: number } & Record<string, number>;

/** A weight tensor: data is base64 of little-endian float32 values. */
export interface SerializedTensor {
  name: string;
  shape: number[];
  data: string;
  dtype?: 'float32' | 'int32';
}

export interface EarlyStoppingState {
  best: number;
  wait: number;
  bestEpoch: number;
  stoppedEpoch?: number;
  bestWeights?: SerializedTensor[];
}

export interface Checkpoint {
  /** last completed epoch (1-based) */
  epoch: number;
  history: EpochLogs[];
  weights: SerializedTensor[];
  /** optimizer slots (moments, iteration count) when the engine has them */
  optimizer?: SerializedTensor[];
  engine: string;
  earlyStopping?: EarlyStoppingState;
}

export interface UnitHooks {
  onEpoch(epoch: number, logs: Record<string, number>): void | Promise<void>;
  /** polled after every epoch: 'stop' = save a checkpoint now and return {status: 'interrupted'} */
  control(): 'continue' | 'stop';
  /** called when a periodic checkpoint is due (core/checkpoints.ts), on 'stop' and when checkpointNow() says so */
  saveCheckpoint(c: Checkpoint): Promise<void>;
  /** polled after every epoch: true = save a checkpoint now and go on (a spot rebalance recommendation) */
  checkpointNow?(): boolean;
}

export interface TrainArrays {
  rows: number;
  /** row-major rows x inputDim */
  x: Float32Array;
  /** row-major rows x targetWidth */
  y: Float32Array;
}

export interface EngineContext {
  spec: ResolvedJobSpec;
  layers: NormalizedLayer[];
  meta: ModelMeta;
  inputDim: number;
  targetWidth: number;
  train: TrainArrays;
  validation?: TrainArrays;
  /** held-out rows, scored after training (eval units) */
  test?: TrainArrays;
  /** initial weights */
  modelSeed: number;
  /** per-epoch shuffles derive from it */
  shuffleSeed: number;
  checkpoint?: Checkpoint;
  hooks: UnitHooks;
  backend?: BackendName;
}

export interface EngineResult {
  status: 'done' | 'interrupted';
  history: EpochLogs[];
  /** [loss, ...metrics] on the test rows, Keras names */
  heldOut?: Record<string, number>;
  /** the model's outputs on the test rows (rows x output units), for the training-health checks */
  testPredictions?: Float32Array;
  /** the trained model when the engine is tfjs and the caller keeps it */
  model?: tfjs.LayersModel;
  backend: string;
}

export interface EngineImpl {
  readonly name: string;
  run(ctx: EngineContext, keepModel: boolean): Promise<EngineResult>;
}

/** An engine with the reason it was chosen (training.engine "auto" explains itself). */
export type EngineChoice = EngineImpl & { reason?: string };

export function encodeFloats(values: ArrayLike<number>): string {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

export function decodeFloats(data: string): Float32Array {
  const b = Buffer.from(data, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export const diverged = (epoch: number): NightshiftError =>
  new NightshiftError('training_diverged', `loss became NaN at epoch ${epoch} — lower the learning rate or standardize the inputs`);

/** Keras EarlyStopping semantics, as a pure state machine over epoch logs. */
export class EarlyStopping {
  readonly monitor: string;
  private readonly sign: 1 | -1; // +1: lower is better
  state: EarlyStoppingState;

  constructor(private readonly cfg: NonNullable<ResolvedJobSpec['training']['earlyStopping']>, state?: EarlyStoppingState) {
    this.monitor = cfg.monitor.replace(/(^|_)acc$/, '$1accuracy');
    const max = cfg.mode === 'max' || (cfg.mode === 'auto' && /acc|precision|recall/.test(this.monitor));
    this.sign = max ? -1 : 1;
    this.state = state ?? { best: Infinity * this.sign, wait: 0, bestEpoch: 0 };
    if (this.state.best === null) this.state.best = Infinity * this.sign; // JSON turns Infinity into null
  }

  get restoreBestWeights(): boolean {
    return this.cfg.restoreBestWeights;
  }

  /** Update with one epoch; returns {improved, stop}. A missing monitor never stops (as Keras). */
  update(epoch: number, logs: Record<string, number>): { improved: boolean; stop: boolean } {
    const current = logs[this.monitor];
    if (current === undefined || Number.isNaN(current)) return { improved: false, stop: false };
    const s = this.state;
    s.wait++;
    const improved = this.sign === 1 ? current + this.cfg.minDelta < s.best : current - this.cfg.minDelta > s.best;
    if (improved) {
      s.best = current;
      s.bestEpoch = epoch;
      s.wait = 0;
    }
    const stop = s.wait >= this.cfg.patience && epoch > 1;
    if (stop) s.stoppedEpoch = epoch;
    return { improved, stop };
  }
}
