/**
 * A job's files: the training history (assembled from the per-unit files while the
 * job runs, from history.json once it is written) and the artifacts by name.
 */
import { unitOrder, type JobHistory, type UnitHistory } from '../../core/views.ts';
import type { ArtifactStore } from '../../core/artifacts.ts';
import { NightshiftError } from '../../core/errors.ts';
import { artifactKey, keys } from '../../core/keys.ts';

function assemble(all: UnitHistory[]): JobHistory {
  const units = all.filter((u) => u.kind !== 'final' && u.key !== 'final').sort(unitOrder);
  const final = all.find((u) => u.kind === 'final' || u.key === 'final');
  return final ? { units, final } : { units };
}

/** history.json as written by the aggregator: {units, final?} (or a bare list of unit histories). */
function normalize(raw: unknown): JobHistory {
  if (Array.isArray(raw)) return assemble(raw as UnitHistory[]);
  const h = raw as Partial<JobHistory>;
  const units = Array.isArray(h.units) ? h.units : [];
  if (!h.final && units.some((u) => u.kind === 'final' || u.key === 'final')) return assemble(units);
  return h.final ? { units, final: h.final } : { units };
}

const contentTypeOf = (name: string): string => (name.endsWith('.json') ? 'application/json' : 'application/octet-stream');

export function createFileService({ artifacts }: { artifacts: ArtifactStore }) {
  return {
    async history(jobId: string): Promise<JobHistory> {
      const whole = await artifacts.getJson<unknown>(keys.history(jobId));
      if (whole !== undefined) return normalize(whole);
      const files = (await artifacts.list(`${keys.jobPrefix(jobId)}units/`)).filter((k) => /\/units\/[^/]+\/history\.json$/.test(k));
      const read: UnitHistory[] = [];
      // a handful at a time: a 1000-unit job should not open 1000 sockets
      for (let i = 0; i < files.length; i += 16) {
        const batch = await Promise.all(files.slice(i, i + 16).map((k) => artifacts.getJson<UnitHistory>(k).catch(() => undefined)));
        for (const u of batch) if (u && Array.isArray(u.epochs)) read.push(u);
      }
      return assemble(read);
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
