/** The normalized layer list lives in core (the API checks submissions with it); re-exported for the trainer. */
export * from '../../../services/core/layers.ts';
