/**
 * The fused engine: trains dense/dropout MLPs with hand-written Float32Array loops,
 * interchangeable with the tfjs path (same semantics, history keys and weight layout).
 */
export { fusedSupport, parityCovered, PARITY_COVERED, type FusedSupport, type FusedTrainingSpec } from './support.ts';
export { createFusedModel, FusedNetwork, type FusedModel } from './model.ts';
export { trainFused, type FusedTrainOptions, type FusedTrainResult, type EpochDecision } from './train.ts';
export { weightShapes } from './init.ts';
export { optimizerStateFromArrays, optimizerStateToArrays, type FusedOptimizerState, type OptimizerSpec } from './optimizers.ts';
export type { LossKind } from './losses.ts';
