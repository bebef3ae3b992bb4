/**
 * A job's files: the training history (assembled from the per-unit files while the
 * job runs, from history.json once it is written) and the artifacts by name.
 */
import type { JobHistory } from '../../core/views.ts';
import { readUnitHistories } from '../../platform/history.ts';
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError } from '../../core/errors.ts';
import { artifactKey, keys } from '../../core/keys.ts';

const contentTypeOf = (name: string): string => (name.endsWith('.json') ? 'application/json' : 'application/octet-stream');

export function createFileService({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    async history(jobId: string): Promise<JobHistory> {
      return (await artifacts.getJson<JobHistory>(keys.history(jobId))) ?? readUnitHistories(artifacts, jobId);
    },

    /** Key and content type of a named artifact; not_found for names outside the layout. */
    resolve(jobId: string, name: string): { key: string; contentType: string } {
      const key = artifactKey(jobId, name);
      if (!key) {
        throw new NightshiftError('not_found', `unknown artifact ${JSON.stringify(name)}: expected history.json, summary.json, spec.json, model.json, weights.bin, meta.json or units/<unit>/history.json`);
      }
      return { key, contentType: contentTypeOf(name) };
    },

    async read(jobId: string, name: string): Promise<{ body: Buffer; contentType: string }> {
      const { key, contentType } = this.resolve(jobId, name);
      const body = await artifacts.get(key);
      if (!body) throw new NightshiftError('not_found', `job ${jobId} has no ${name} (yet)`);
      return { body, contentType };
    },

    /** Presigned URL of an existing artifact, or undefined when the store cannot presign. */
    async presign(jobId: string, name: string, expiresS = 300): Promise<string | undefined> {
      const { key } = this.resolve(jobId, name);
      if (!artifacts.presign) return undefined;
      if (!(await artifacts.exists(key))) throw new NightshiftError('not_found', `job ${jobId} has no ${name} (yet)`);
      return artifacts.presign(key, expiresS);
    },
  };
}

export type FileService = ReturnType<typeof createFileService>;
