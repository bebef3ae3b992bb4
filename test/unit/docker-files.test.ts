/**
 * The container files, checked by parsing them (no container engine runs here): base
 * images pinned by exact version tag or digest, a non-root user in every final stage,
 * production dependencies only, health checks, entry points that exist in the
 * repository, and compose services whose environment variables the configuration reads.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCKER = path.join(ROOT, 'docker');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const i = l.search(/\s/);
      return { op: l.slice(0, i).toUpperCase(), args: l.slice(i + 1).trim() };
    });
}

/** The instructions of each build stage. */
function stages(ins: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const x of ins) {
    if (x.op === 'FROM') out.push([]);
    out[out.length - 1]?.push(x);
  }
  return out;
}

const PINNED = /^[a-z0-9./-]+(:[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.-]*)?(@sha256:[0-9a-f]{64})?$/;
const isPinned = (image: string) => PINNED.test(image) && (/@sha256:/.test(image) || /:[0-9]+\.[0-9]+\.[0-9]+/.test(image));

const DOCKERFILES = readdirSync(DOCKER).filter((f) => f.endsWith('.Dockerfile'));

describe('Dockerfiles', () => {
  it('there are the API/provisioner, CPU worker and GPU worker images', () => {
    expect(DOCKERFILES.sort()).toEqual(['api.Dockerfile', 'worker-cpu.Dockerfile', 'worker-gpu.Dockerfile']);
  });

  describe.each(DOCKERFILES)('%s', (file) => {
    const ins = instructions(read(`docker/${file}`));
    const st = stages(ins);
    const final = st[st.length - 1];
    const stageNames = new Set(ins.filter((x) => x.op === 'FROM').map((x) => x.args.split(/\s+AS\s+/i)[1]).filter(Boolean));

    it('pins every base image by an exact version tag or a digest', () => {
      const bases = ins.filter((x) => x.op === 'FROM').map((x) => x.args.split(/\s+/)[0]);
      expect(bases.length).toBeGreaterThan(0);
      for (const b of bases) expect(isPinned(b), `${b} is not pinned`).toBe(true);
      for (const x of ins.filter((i) => i.op === 'COPY' && i.args.includes('--from='))) {
        const from = /--from=(\S+)/.exec(x.args)![1];
        expect(stageNames.has(from), `COPY --from=${from} names no stage`).toBe(true);
      }
    });

    it('runs as a user that is not root', () => {
      const users = final.filter((x) => x.op === 'USER').map((x) => x.args);
      expect(users.length).toBeGreaterThan(0);
      expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    });

    it('installs production dependencies only, from the lock file', () => {
      const runs = ins.filter((x) => x.op === 'RUN').map((x) => x.args).join('\n');
      expect(runs).toMatch(/npm ci --omit=dev/);
      expect(runs).not.toMatch(/npm ci(?![^\n&]*--omit=dev)/);
    });

    it('has a health check and an entry point that exists in the repository', () => {
      expect(final.some((x) => x.op === 'HEALTHCHECK' && /CMD/.test(x.args))).toBe(true);
      const cmd = JSON.parse(final.filter((x) => x.op === 'CMD').pop()!.args) as string[];
      expect(cmd.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
      expect(existsSync(path.join(ROOT, cmd[3])), `${cmd[3]} is missing`).toBe(true);
    });

    it('copies only paths that exist', () => {
      for (const x of ins.filter((i) => i.op === 'COPY' && !i.args.includes('--from='))) {
        const parts = x.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) expect(existsSync(path.join(ROOT, src)), `${src} is missing`).toBe(true);
      }
    });
  });

  it('the GPU worker carries CUDA 11 and cuDNN 8 from its base, Node 22, and tfjs-node-gpu installed at build time', () => {
    const ins = instructions(read('docker/worker-gpu.Dockerfile'));
    const bases = ins.filter((x) => x.op === 'FROM').map((x) => x.args.split(/\s+/)[0]);
    expect(bases).toContain('node:22.12.0-bookworm-slim');
    const cuda = bases.filter((b) => b.startsWith('nvidia/cuda:'));
    expect(cuda.length).toBeGreaterThan(0);
    for (const b of cuda) expect(b).toMatch(/^nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/);
    expect(stages(ins).pop()![0].args).toMatch(/^nvidia\/cuda:11\./);
    expect(ins.filter((x) => x.op === 'RUN').map((x) => x.args).join('\n')).toMatch(/npm install [^\n]*@tensorflow\/tfjs-node-gpu@/);
  });

  it('the Node images are Node 22 LTS', () => {
    for (const f of DOCKERFILES) {
      const nodeBases = instructions(read(`docker/${f}`)).filter((x) => x.op === 'FROM' && x.args.startsWith('node:'));
      expect(nodeBases.length, f).toBeGreaterThan(0);
      for (const b of nodeBases) expect(b.args).toMatch(/^node:22\./);
    }
  });
});

describe('compose.yaml', () => {
  const compose = parse(read('docker/compose.yaml'), { merge: true }) as { services: Record<string, Record<string, unknown>> };
  const services = compose.services;
  const configSource = ['services/core/config.ts', 'services/core/data-sources.ts'].filter((f) => existsSync(path.join(ROOT, f))).map(read).join('\n');
  /** variables read elsewhere than loadConfig: the AWS SDK's own */
  const SDK_VARS = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);

  it('has Redis with AOF, the API, the provisioner, a CPU worker and an AWS emulator profile', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'moto', 'provisioner', 'redis', 'worker']);
    const cmd = (services.redis.command as string[]).join(' ');
    expect(cmd).toMatch(/--appendonly yes/);
    expect(services.redis.volumes).toBeTruthy();
    expect(services.moto.profiles).toEqual(['aws-emulator']);
    for (const s of ['redis', 'api', 'provisioner', 'worker', 'moto']) expect(services[s].profiles === undefined || s === 'moto').toBe(true);
  });

  it('every image is built here or pinned to an exact version', () => {
    for (const [name, s] of Object.entries(services)) {
      const build = s.build as { context: string; dockerfile: string } | undefined;
      if (build) {
        expect(existsSync(path.resolve(DOCKER, build.context, build.dockerfile)), `${name}: ${build.dockerfile}`).toBe(true);
      } else if (!['api'].some((b) => services[b].image === s.image)) {
        expect(isPinned(String(s.image)), `${name}: ${s.image}`).toBe(true);
      }
    }
  });

  it('commands run entry points that exist', () => {
    const cmd = services.provisioner.command as string[];
    expect(cmd.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(existsSync(path.join(ROOT, cmd[3]))).toBe(true);
    expect(cmd[3]).toBe('services/provisioner/main.ts');
  });

  it('the environment of every service names variables the configuration reads', () => {
    const seen = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      const env = (s.environment ?? {}) as Record<string, unknown>;
      for (const v of Object.keys(env)) {
        seen.add(v);
        const known = SDK_VARS.has(v) || new RegExp(`env\\.${v}\\b|'${v}'`).test(configSource);
        expect(known, `${name}: ${v} is not read by services/core/config.ts`).toBe(true);
      }
    }
    expect(seen.has('REDIS_URL')).toBe(true);
    expect(seen.has('NIGHTSHIFT_API_KEYS')).toBe(true);
  });
});
