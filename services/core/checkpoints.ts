/**
 * When a unit saves a periodic checkpoint. A checkpoint bounds the training lost to a
 * crash or a lost instance (a spot notice asks for one at once), and it costs a copy
 * of the weights and an upload. An explicit `training.checkpointEvery` (epochs) is
 * honoured as written; without it a unit checkpoints once `checkpointSeconds` of
 * training have passed since the last one, so a unit of a few seconds never pays for
 * checkpoints and a unit of hours loses at most that much.
 */
export interface CheckpointPolicy {
  /** epochs between checkpoints, when the spec says so */
  checkpointEvery?: number;
  /** seconds of training between checkpoints otherwise */
  checkpointSeconds: number;
}

export const DEFAULT_CHECKPOINT_SECONDS = 30;

/** Whether the epoch that just ended is due a periodic checkpoint. */
export function checkpointDue(policy: CheckpointPolicy, epoch: number, msSinceLast: number): boolean {
  if (policy.checkpointEvery !== undefined) return epoch % policy.checkpointEvery === 0;
  return msSinceLast >= policy.checkpointSeconds * 1000;
}
