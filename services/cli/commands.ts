/**
 * What each `nightshift` command does, over the typed client and the pure
 * formatters. main.ts wires these to commander. Every command returns its exit
 * code: 0 done, 1 the API or the job said no; usage mistakes throw UsageError (2).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isTerminal, type Job, type JobStatus } from '../core/job.ts';
import { ApiError, ConnectionError, type Client } from './client.ts';
import {
  UsageError, applySets, datasetDetail, eventLine, historyCsv, historyTable, historyUnitsTable, findUnit, instancesTable,
  jobDetail, jobsTable, keyValues, parseCsvRows, parseRowsJson, predictionsTable, progressText, summaryReport, usd,
} from './format.ts';
import { costReport } from './format-costs.ts';

export interface Io {
  /** a line on stdout */
  out(line: string): void;
  /** a line on stderr */
  err(line: string): void;
  /** raw bytes on stdout */
  write(bytes: Uint8Array | string): void;
  /** whether stdout is a terminal */
  stdoutIsTty: boolean;
  /** reads stdin whole (for `submit -`) */
  readStdin(): string;
  cwd: string;
}

export interface FollowOptions {
  /** where progress lines go */
  print(line: string): void;
  /** raw events as JSON lines instead of text */
  json?: boolean;
  pollMs?: number;
  /** at most one progress line per this many ms (unit and status lines always print) */
  progressEveryMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function readText(file: string, io: Io, what: string): string {
  if (file === '-') return io.readStdin();
  try {
    return readFileSync(path.resolve(io.cwd, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${what} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
}

/** Reads and patches a spec file: the file, then each --set in order, then --dataset. */
export function loadSpec(file: string, io: Io, sets: string[] = [], dataset?: string): Record<string, unknown> {
  const text = readText(file, io, 'spec');
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`spec ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new UsageError(`spec ${file}: expected a JSON object (a JobSpec)`);
  let patched = applySets(spec, sets) as Record<string, unknown>;
  if (dataset !== undefined) {
    if (!dataset.trim()) throw new UsageError('--dataset: the URI is empty');
    const ds = patched.dataset && typeof patched.dataset === 'object' && !Array.isArray(patched.dataset) ? (patched.dataset as Record<string, unknown>) : {};
    patched = { ...patched, dataset: { ...ds, uri: dataset } };
  }
  return patched;
}

/**
 * Follows a job until it reaches a terminal status: Server-Sent Events first, and
 * polling GET /v1/jobs/:id when the stream cannot be opened or ends early.
 * Answers the final Job.
 */
export async function followJob(client: Client, id: string, o: FollowOptions): Promise<Job> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const every = o.progressEveryMs ?? 1_000;
  let lastProgress = -Infinity;
  let terminal = false;
  let lastStatus: string | undefined;
  let unitsTotal: number | undefined;

  try {
    for await (const ev of client.events(id)) {
      const data = (ev.data && typeof ev.data === 'object' ? ev.data : {}) as Record<string, unknown>;
      if (ev.event === 'job' && isTerminal(String(data.status))) terminal = true;
      if (ev.event === 'status' && isTerminal(String(data.status))) terminal = true;
      if (o.json) {
        o.print(JSON.stringify({ event: ev.event, data: ev.data }));
      } else {
        if (ev.event === 'job') {
          lastStatus = String(data.status);
          unitsTotal = (data.progress as { unitsTotal?: number } | undefined)?.unitsTotal;
        }
        if (ev.event === 'status') {
          // a status event is published per unit start; print changes only
          if (String(data.status) === lastStatus && !data.error) continue;
          lastStatus = String(data.status);
        }
        if (ev.event === 'progress') {
          const last = data.epoch !== undefined && data.epoch === data.epochs;
          if (!last && now() - lastProgress < every) continue;
          lastProgress = now();
        }
        const line = eventLine(ev.event, ev.event === 'unit' && unitsTotal !== undefined ? { ...data, unitsTotal } : data);
        if (line !== undefined) o.print(line);
      }
      if (terminal) break;
    }
  } catch (e) {
    // an API answer about the job (404, 401) is final; a broken stream is not
    if (e instanceof ApiError && e.status < 500) throw e;
    if (!o.json) o.print(`event stream unavailable (${(e as Error).message}); polling every ${((o.pollMs ?? 2_000) / 1000).toFixed(1)}s`);
  }
  if (terminal) return client.getJob(id);

  let last = '';
  let failures = 0;
  for (;;) {
    let job: Job;
    try {
      job = await client.getJob(id);
      failures = 0;
    } catch (e) {
      if (e instanceof ConnectionError && ++failures < 5) {
        await sleep(o.pollMs ?? 2_000);
        continue;
      }
      throw e;
    }
    const line = `${job.id}  ${job.status}  ${progressText(job.progress)}`;
    if (line !== last) {
      o.print(o.json ? JSON.stringify({ event: 'job', data: job }) : line);
      last = line;
    }
    if (isTerminal(job.status)) return job;
    await sleep(o.pollMs ?? 2_000);
  }
}

export function createCommands(client: () => Client, io: Io) {
  const show = (json: boolean | undefined, raw: unknown, human: () => string): void => {
    io.out(json ? JSON.stringify(raw, null, 2) : human());
  };

  return {
    async datasetsUpload(file: string, o: { name?: string; header?: boolean; json?: boolean }): Promise<number> {
      let bytes: Buffer;
      try {
        bytes = readFileSync(path.resolve(io.cwd, file));
      } catch (e) {
        throw new UsageError(`data set ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      }
      const ds = await client().uploadDataset(bytes, { ...(o.name !== undefined ? { name: o.name } : {}), header: !!o.header });
      show(o.json, ds, () => datasetDetail(ds));
      return 0;
    },

    async submit(file: string, o: { dryRun?: boolean; set?: string[]; dataset?: string; wait?: boolean; json?: boolean }): Promise<number> {
      const spec = loadSpec(file, io, o.set ?? [], o.dataset);
      const c = client();
      if (o.dryRun) {
        const answer = await c.dryRun(spec);
        show(o.json, answer, () => keyValues([
          ['valid', 'yes'],
          ['name', typeof answer.resolved.name === 'string' ? answer.resolved.name : undefined],
          ['units', answer.unitsTotal],
          ['dataset', (answer.resolved.dataset as { uri?: string } | undefined)?.uri],
          ...(answer.estimate ? [
            ['estimate', `${usd(answer.estimate.onDemandUsd)} on-demand${answer.estimate.spotUsd !== null ? `, ${usd(answer.estimate.spotUsd)} spot` : ''} (${answer.estimate.unitSeconds} s per unit on ${answer.estimate.instanceType} at ${usd(answer.estimate.hourlyOnDemandUsd)}/h)`],
            ['basis', answer.estimate.basis],
          ] as Array<[string, string]> : []),
        ]));
        return 0;
      }
      const accepted = await c.submitJob(spec);
      show(o.json, accepted, () => accepted.id);
      if (!o.wait) return 0;
      const job = await followJob(c, accepted.id, { print: io.err });
      io.err(jobDetail(job));
      return job.status === 'completed' ? 0 : 1;
    },

    async jobs(o: { status?: JobStatus; limit?: number; batch?: string; cursor?: string; json?: boolean }): Promise<number> {
      const list = await client().listJobs({
        ...(o.status ? { status: o.status } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(o.batch ? { batch: o.batch } : {}),
        ...(o.cursor ? { cursor: o.cursor } : {}),
      });
      show(o.json, list, () => jobsTable(list.items) + (list.nextCursor ? `\n(more: --cursor ${list.nextCursor})` : ''));
      return 0;
    },

    async status(id: string, o: { json?: boolean }): Promise<number> {
      const job = await client().getJob(id);
      show(o.json, job, () => jobDetail(job));
      return 0;
    },

    async watch(id: string, o: { json?: boolean; pollMs?: number }): Promise<number> {
      const job = await followJob(client(), id, { print: io.out, ...(o.json ? { json: true } : {}), ...(o.pollMs ? { pollMs: o.pollMs } : {}) });
      if (!o.json) io.out(jobDetail(job));
      return job.status === 'completed' ? 0 : 1;
    },

    async history(id: string, o: { unit?: string; csv?: boolean; json?: boolean }): Promise<number> {
      const h = await client().history(id);
      if (o.json) io.out(JSON.stringify(h, null, 2));
      else if (o.csv) io.write(historyCsv(h, o.unit));
      else if (o.unit) io.out(historyTable(findUnit(h, o.unit)));
      else io.out(historyUnitsTable(h));
      return 0;
    },

    async results(id: string, o: { json?: boolean }): Promise<number> {
      const s = await client().summary(id);
      show(o.json, s, () => summaryReport(s));
      return 0;
    },

    async artifacts(id: string, name: string, o: { output?: string }): Promise<number> {
      const { body } = await client().artifact(id, name);
      const target = o.output ?? path.basename(name);
      if (target === '-') {
        io.write(body);
        return 0;
      }
      const file = path.resolve(io.cwd, target);
      writeFileSync(file, body);
      io.out(`wrote ${path.relative(io.cwd, file) || file} (${body.length} bytes)`);
      return 0;
    },

    async predict(id: string, o: { rows?: string; csv?: string; header?: boolean; json?: boolean }): Promise<number> {
      if ((o.rows === undefined) === (o.csv === undefined)) throw new UsageError('predict: give exactly one of --rows \'[[...]]\' or --csv FILE');
      const rows = o.rows !== undefined ? parseRowsJson(o.rows) : parseCsvRows(readText(o.csv!, io, 'rows'), { header: !!o.header, source: o.csv! });
      const p = await client().predict(id, rows);
      show(o.json, p, () => predictionsTable(p));
      return 0;
    },

    async cancel(id: string, o: { json?: boolean }): Promise<number> {
      const job = await client().cancelJob(id);
      show(o.json, job, () => `${job.id} ${job.status}`);
      return 0;
    },

    async instances(o: { state?: 'live' | 'terminated' | 'all'; json?: boolean }): Promise<number> {
      const list = await client().instances(o.state);
      show(o.json, list, () => instancesTable(list));
      return 0;
    },

    async cost(o: { by?: string; from?: string; to?: string; json?: boolean }): Promise<number> {
      const r = await client().costs({ ...(o.by ? { groupBy: o.by } : {}), ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) });
      show(o.json, r, () => costReport(r));
      return 0;
    },
  };
}

export type Commands = ReturnType<typeof createCommands>;
