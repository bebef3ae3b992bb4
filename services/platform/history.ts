/**
 * A job's training history read from its units' files (jobs/<id>/units/<key>/history.json).
 * The aggregator writes it as history.json when the job ends; the API assembles it
 * the same way while the job runs.
 */
import type { ArtifactStore } from '../core/artifacts.ts';
import { keys } from '../core/keys.ts';
import { assembleHistory, type JobHistory, type UnitHistory } from '../core/views.ts';

/** At most this many reads at once: a 1000-unit job should not open 1000 sockets. */
const READS_AT_ONCE = 16;

export async function readUnitHistories(artifacts: ArtifactStore, jobId: string): Promise<JobHistory> {
  const files = (await artifacts.list(`${keys.jobPrefix(jobId)}units/`)).filter((k) => /\/units\/[^/]+\/history\.json$/.test(k));
  const read: UnitHistory[] = [];
  for (let i = 0; i < files.length; i += READS_AT_ONCE) {
    const batch = await Promise.all(files.slice(i, i + READS_AT_ONCE).map((k) => artifacts.getJson<UnitHistory>(k)));
    for (const u of batch) if (u && Array.isArray(u.epochs)) read.push(u);
  }
  return assembleHistory(read);
}

/** Checkpoints are only needed while a unit can still resume; a finished job drops them. */
export async function deleteCheckpoints(artifacts: ArtifactStore, jobId: string): Promise<void> {
  await artifacts.deletePrefix(keys.checkpointPrefix(jobId));
}
