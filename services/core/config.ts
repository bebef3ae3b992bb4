/**
 * Configuration, parsed once at boot from the environment. Nothing else reads
 * process.env. A bad value throws a ConfigError that names the variable; the
 * entry points print it and exit.
 */
import path from 'node:path';
import { parseS3Grants, type S3Grant } from './data-sources.ts';
import { parseTenantBudgets } from './budget.ts';
import { acceleratorOf, DEFAULT_CPU_TYPES } from './machines.ts';
import { ON_DEMAND_USD } from './prices.ts';

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type ComputeKind = 'local' | 'ec2';

export interface Config {
  port: number;
  host: string;
  redisUrl?: string;
  /** REDIS_URL names a node of a Redis Cluster (ElastiCache cluster mode): connect with the cluster client */
  redisCluster: boolean;
  /** Redis key prefix; a hash tag ({nightshift}) by default so every key lands in one cluster slot */
  prefix: string;
  dataDir: string;
  s3: { bucket: string; endpoint?: string; region: string; forcePathStyle: boolean; accessKeyId?: string; secretAccessKey?: string };
  /** tenant -> bucket/prefix pairs it may train on besides its own datasets/<tenant>/ area (NIGHTSHIFT_S3_SOURCES) */
  s3Sources: Map<string, S3Grant[]>;
  compute: ComputeKind;
  maxInstances: number;
  idleTimeoutS: number;
  bootTimeoutS: number;
  reconcileIntervalMs: number;
  budgetUsd?: number;
  localHourlyUsd: number;
  /** tenant -> keys */
  apiKeys: Map<string, string>;
  adminKeys: Set<string>;
  tfBackend?: 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  logLevel: string;
  workerConcurrency: number;
  ec2: {
    /** GPU instance types in preference order (GPU classes) */
    instanceTypes: string[];
    /** CPU instance types in preference order (CPU classes) */
    cpuInstanceTypes: string[];
    /** the only types a job may ask for (NIGHTSHIFT_EC2_ALLOWED_TYPES; default: the priced catalog) */
    allowedTypes: string[];
    /** operator cap on any job's resources.maxHourlyUsd and on what a launch may cost per instance-hour */
    maxHourlyUsd?: number;
    amiId?: string;
    /** one SSM parameter for every family; unset = the image table in core/machines.ts */
    amiSsmParameter?: string;
    /** CloudWatch Logs group the instances ship their worker log to */
    logGroup: string;
    subnetIds: string[];
    securityGroupIds: string[];
    instanceProfile?: string;
    keyName?: string;
    cluster: string;
    /** SSM parameter that holds the worker's Redis URL on the instance */
    redisUrlParameter?: string;
    /** market policy of launches: on-demand only, spot first, spot only */
    spot?: 'no' | 'prefer' | 'require';
    /** market policy of CPU classes (NIGHTSHIFT_EC2_CPU_SPOT; default: NIGHTSHIFT_EC2_SPOT when set, else spot first) */
    cpuSpot?: 'no' | 'prefer' | 'require';
  };
  imdsEndpoint: string;
  shutdownCommand: string;
  /** run once by the worker when it is ready: cancels the bootstrap's delayed power-off (EC2: sudo shutdown -c) */
  handoverCommand?: string;
  /** id of the machine this worker runs on (local provider and cloud simulator set it; on EC2 it comes from IMDS) */
  instanceId?: string;
  /** BullMQ lock of a running unit: a worker that dies hard releases its unit after this long */
  unitLockMs: number;
  /** finished jobs older than this many days leave Redis (their files stay in S3); 0 = keep forever */
  retentionDays: number;
  /** costs and leaks (NIGHTSHIFT_TENANT_BUDGETS, NIGHTSHIFT_MAX_INSTANCE_HOURS, NIGHTSHIFT_HUNG_AFTER_S, NIGHTSHIFT_CLASS_BLOCK_AFTER) */
  costs: {
    /** tenant -> monthly USD */
    tenantBudgets: Map<string, number>;
    /** an instance older than this is terminated (its units go back to the queue) */
    maxInstanceHours?: number;
    /** a busy worker without epoch progress for this long is hung and is replaced */
    hungAfterS: number;
    /** consecutive launch failures after which a resource class is blocked */
    blockAfterFailures: number;
    /** per-class launch backoff: first delay and cap */
    backoffBaseMs: number;
    backoffCapMs: number;
    /** a bootstrap that never hands over to the worker powers the machine off after this (user data: shutdown -h +N) */
    bootstrapPowerOffMin: number;
    /** read on-demand prices from the AWS Pricing API (daily), over the catalog (NIGHTSHIFT_PRICING_REFRESH) */
    pricingRefresh: boolean;
  };
  /** per-tenant quotas and request limits of the API */
  limits: TenantLimits;
  /** container images instances run the worker from (GPU classes; CPU classes use cpuWorkerImage when set) */
  workerImage?: string;
  cpuWorkerImage?: string;
  /** what this worker's machine was launched for: "gpu" makes the worker prove its GPU before taking units */
  accelerator?: 'gpu' | 'cpu';
  /** a file the worker touches on every heartbeat (container health checks) */
  healthFile?: string;
  /** port of the provisioner's own /healthz and /metrics (services/provisioner/main.ts) */
  provisionerPort: number;
  /** pid of the local provisioner that spawned this worker: the worker stops when that process is gone (local "instances" end with their provisioner) */
  parentPid?: number;
}

export interface TenantLimits {
  /** requests per minute per API key (0: no limit) */
  rateLimitPerMinute: number;
  /** training units a tenant may have queued or running at once */
  maxQueuedUnits: number;
  /** event streams (GET /v1/jobs/:id/events) a tenant may hold open, counted across all API processes */
  maxEventStreams: number;
  /** bytes of uploaded data sets a tenant may store */
  maxStoredBytes: number;
  /** cap on a job's compute estimate (parameters x rows x epochs x units) */
  maxJobCompute: number;
  /** highest priority a tenant may give its jobs, unless listed in tenantMaxPriority */
  maxPriority: number;
  tenantMaxPriority: Map<string, number>;
}

/** Tenant names that mean something else (admin keys act as "admin") and may not be given to an API key. */
export const RESERVED_TENANTS = new Set(['admin', 'root', 'system', 'nightshift', 'all', 'any', 'public', 'anonymous']);

type Env = Record<string, string | undefined>;

function bool(env: Env, name: string, dflt: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

function num(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ConfigError(name, `expected a number, got "${raw}"`);
  if (n < min || n > max) throw new ConfigError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function parseKeys(env: Env, name: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list(env, name)) {
    const i = item.indexOf(':');
    if (i <= 0 || i === item.length - 1) throw new ConfigError(name, `expected tenant:key pairs separated by commas, got "${item}"`);
    const tenant = item.slice(0, i);
    const key = item.slice(i + 1);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) throw new ConfigError(name, `tenant "${tenant}" may use letters, digits, _ . - (at most 64)`);
    if (key.length < 8) throw new ConfigError(name, `the key of tenant "${tenant}" is shorter than 8 characters`);
    if (RESERVED_TENANTS.has(tenant.toLowerCase())) throw new ConfigError(name, `tenant name "${tenant}" is reserved (${[...RESERVED_TENANTS].join(', ')})`);
    const other = out.get(key);
    if (other !== undefined) throw new ConfigError(name, `the same key is given twice (tenants "${other}" and "${tenant}")`);
    out.set(key, tenant);
  }
  return out;
}

function s3Sources(env: Env): Map<string, S3Grant[]> {
  try {
    return parseS3Grants(env.NIGHTSHIFT_S3_SOURCES ?? '');
  } catch (e) {
    throw new ConfigError('NIGHTSHIFT_S3_SOURCES', (e as Error).message);
  }
}

function parseTenantInts(env: Env, name: string, min: number, max: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of list(env, name)) {
    const m = /^([A-Za-z0-9_.-]{1,64}):(\d+)$/.exec(item);
    if (!m) throw new ConfigError(name, `expected tenant:integer pairs separated by commas, got "${item}"`);
    const n = Number(m[2]);
    if (n < min || n > max) throw new ConfigError(name, `tenant "${m[1]}": expected ${min}..${max}, got ${n}`);
    if (out.has(m[1])) throw new ConfigError(name, `tenant "${m[1]}" is given twice`);
    out.set(m[1], n);
  }
  return out;
}

function accelerator(env: Env): 'gpu' | 'cpu' | undefined {
  const v = env.NIGHTSHIFT_ACCELERATOR || undefined;
  if (v !== undefined && v !== 'gpu' && v !== 'cpu') throw new ConfigError('NIGHTSHIFT_ACCELERATOR', `expected gpu or cpu, got "${v}"`);
  return v;
}

function spotPolicy(env: Env, name = 'NIGHTSHIFT_EC2_SPOT', dflt = 'no'): 'no' | 'prefer' | 'require' {
  const v = env[name] || dflt;
  if (v !== 'no' && v !== 'prefer' && v !== 'require') throw new ConfigError(name, `expected no, prefer or require, got "${v}"`);
  return v;
}

function tenantBudgets(env: Env): Map<string, number> {
  try {
    return parseTenantBudgets(env.NIGHTSHIFT_TENANT_BUDGETS ?? '');
  } catch (e) {
    throw new ConfigError('NIGHTSHIFT_TENANT_BUDGETS', (e as Error).message);
  }
}

const IMAGE_RE = /^[a-z0-9][a-z0-9._\/:@-]{0,254}$/i;

function image(env: Env, name: string): string | undefined {
  const v = env[name] || undefined;
  if (v !== undefined && !IMAGE_RE.test(v)) throw new ConfigError(name, `expected a container image reference like <account>.dkr.ecr.<region>.amazonaws.com/nightshift-worker-gpu:<tag>, got "${v}"`);
  return v;
}

/** Default allowed types: every priced type whose family has a machine image. */
export const PRICED_TYPES: readonly string[] = Object.keys(ON_DEMAND_USD).filter((t) => acceleratorOf(t) !== undefined);

function ec2Types(env: Env): { instanceTypes: string[]; cpuInstanceTypes: string[]; allowedTypes: string[] } {
  const allowedTypes = list(env, 'NIGHTSHIFT_EC2_ALLOWED_TYPES').length ? list(env, 'NIGHTSHIFT_EC2_ALLOWED_TYPES') : [...PRICED_TYPES];
  for (const t of allowedTypes) {
    if (!acceleratorOf(t)) throw new ConfigError('NIGHTSHIFT_EC2_ALLOWED_TYPES', `"${t}" is not of an instance family nightshift has a machine image for (see services/core/machines.ts)`);
  }
  const pick = (name: string, dflt: string[], want: 'gpu' | 'cpu'): string[] => {
    const given = list(env, name);
    const types = given.length ? given : dflt.filter((t) => allowedTypes.includes(t));
    for (const t of types) {
      if (!allowedTypes.includes(t)) throw new ConfigError(name, `"${t}" is not in NIGHTSHIFT_EC2_ALLOWED_TYPES`);
      if (acceleratorOf(t) !== want) throw new ConfigError(name, `"${t}" is not a ${want.toUpperCase()} instance type`);
    }
    return types;
  };
  return {
    allowedTypes,
    instanceTypes: pick('NIGHTSHIFT_EC2_INSTANCE_TYPES', ['p3.2xlarge', 'p3.8xlarge'], 'gpu'),
    cpuInstanceTypes: pick('NIGHTSHIFT_EC2_CPU_INSTANCE_TYPES', DEFAULT_CPU_TYPES, 'cpu'),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', `expected redis://host:port, got "${redisUrl}"`);
  const redisCluster = bool(env, 'NIGHTSHIFT_REDIS_CLUSTER', false);
  const prefix = env.NIGHTSHIFT_PREFIX || '{nightshift}';
  if (!/^(\{[A-Za-z0-9_.-]{1,62}\}|[A-Za-z0-9_.-]{1,64})$/.test(prefix)) {
    throw new ConfigError('NIGHTSHIFT_PREFIX', 'may use letters, digits, _ . - (at most 64), optionally as one hash tag: {name}');
  }
  if (redisCluster && !prefix.startsWith('{')) {
    throw new ConfigError('NIGHTSHIFT_PREFIX', `on a Redis Cluster the prefix must be a hash tag such as {${prefix}}, so the keys a queue's scripts touch share one slot`);
  }
  const compute = (env.NIGHTSHIFT_COMPUTE || 'local') as ComputeKind;
  if (compute !== 'local' && compute !== 'ec2') throw new ConfigError('NIGHTSHIFT_COMPUTE', `expected "local" or "ec2", got "${compute}"`);
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint && !/^https?:\/\//.test(endpoint)) throw new ConfigError('AWS_ENDPOINT_URL', `expected an http(s) URL, got "${endpoint}"`);
  const bucket = env.NIGHTSHIFT_S3_BUCKET || 'nightshift-artifacts';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError('NIGHTSHIFT_S3_BUCKET', `"${bucket}" is not a valid bucket name`);
  const tfBackend = env.NIGHTSHIFT_TF_BACKEND || undefined;
  if (tfBackend && !['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].includes(tfBackend)) {
    throw new ConfigError('NIGHTSHIFT_TF_BACKEND', `expected tensorflow-gpu, tensorflow, wasm or cpu, got "${tfBackend}"`);
  }
  const apiKeys = parseKeys(env, 'NIGHTSHIFT_API_KEYS');
  const adminKeys = new Set(list(env, 'NIGHTSHIFT_ADMIN_KEYS'));
  for (const k of adminKeys) if (k.length < 8) throw new ConfigError('NIGHTSHIFT_ADMIN_KEYS', 'every admin key must be at least 8 characters');
  if (list(env, 'NIGHTSHIFT_ADMIN_KEYS').length !== adminKeys.size) throw new ConfigError('NIGHTSHIFT_ADMIN_KEYS', 'the same key is given twice');
  for (const k of adminKeys) {
    if (apiKeys.has(k)) throw new ConfigError('NIGHTSHIFT_ADMIN_KEYS', `an admin key is also the API key of tenant "${apiKeys.get(k)}"`);
  }
  const cores = Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 2);
  return {
    redisCluster,
    port,
    host: env.HOST || '127.0.0.1',
    redisUrl,
    prefix,
    dataDir: path.resolve(env.NIGHTSHIFT_DATA_DIR || '.nightshift'),
    s3: {
      bucket,
      endpoint,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      forcePathStyle: endpoint !== undefined,
      accessKeyId: env.AWS_ACCESS_KEY_ID || undefined,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY || undefined,
    },
    s3Sources: s3Sources(env),
    compute,
    maxInstances: int(env, 'NIGHTSHIFT_MAX_INSTANCES', compute === 'local' ? cores : 4, 0, 1000),
    idleTimeoutS: int(env, 'NIGHTSHIFT_IDLE_TIMEOUT_S', compute === 'local' ? 30 : 120, 1, 86_400),
    bootTimeoutS: int(env, 'NIGHTSHIFT_BOOT_TIMEOUT_S', compute === 'local' ? 60 : 600, 1, 86_400),
    reconcileIntervalMs: int(env, 'NIGHTSHIFT_RECONCILE_MS', 2_000, 100, 60_000),
    budgetUsd: num(env, 'NIGHTSHIFT_BUDGET_USD', 0, 1e9),
    localHourlyUsd: num(env, 'NIGHTSHIFT_LOCAL_HOURLY_USD', 0, 1e6) ?? 0,
    apiKeys,
    adminKeys,
    tfBackend: tfBackend as Config['tfBackend'],
    logLevel: env.LOG_LEVEL || 'info',
    workerConcurrency: int(env, 'NIGHTSHIFT_WORKER_CONCURRENCY', 1, 1, 64),
    ec2: {
      ...ec2Types(env),
      maxHourlyUsd: num(env, 'NIGHTSHIFT_EC2_MAX_HOURLY_USD', 0.001, 1e4),
      amiId: env.NIGHTSHIFT_EC2_AMI_ID || undefined,
      amiSsmParameter: env.NIGHTSHIFT_EC2_AMI_SSM_PARAMETER || undefined,
      logGroup: env.NIGHTSHIFT_EC2_LOG_GROUP || `/nightshift/${env.NIGHTSHIFT_CLUSTER || prefix}`,
      subnetIds: list(env, 'NIGHTSHIFT_EC2_SUBNET_IDS'),
      securityGroupIds: list(env, 'NIGHTSHIFT_EC2_SECURITY_GROUP_IDS'),
      instanceProfile: env.NIGHTSHIFT_EC2_INSTANCE_PROFILE || undefined,
      keyName: env.NIGHTSHIFT_EC2_KEY_NAME || undefined,
      cluster: env.NIGHTSHIFT_CLUSTER || prefix.replace(/[{}]/g, ''),
      redisUrlParameter: env.NIGHTSHIFT_REDIS_URL_PARAMETER || undefined,
      spot: spotPolicy(env),
      // CPU classes prefer spot (interruptions cost a checkpoint, and CPU spot capacity is deep)
      // unless the operator chose a market for every class or for CPU classes
      cpuSpot: spotPolicy(env, 'NIGHTSHIFT_EC2_CPU_SPOT', env.NIGHTSHIFT_EC2_SPOT || 'prefer'),
    },
    imdsEndpoint: env.NIGHTSHIFT_IMDS_ENDPOINT || 'http://169.254.169.254',
    shutdownCommand: env.NIGHTSHIFT_SHUTDOWN_COMMAND || 'sudo shutdown -h now',
    handoverCommand: env.NIGHTSHIFT_HANDOVER_COMMAND || undefined,
    instanceId: env.NIGHTSHIFT_INSTANCE_ID || undefined,
    unitLockMs: int(env, 'NIGHTSHIFT_UNIT_LOCK_MS', 30_000, 1_000, 3_600_000),
    retentionDays: int(env, 'NIGHTSHIFT_RETENTION_DAYS', 30, 0, 36_500),
    costs: {
      tenantBudgets: tenantBudgets(env),
      maxInstanceHours: num(env, 'NIGHTSHIFT_MAX_INSTANCE_HOURS', 0.001, 10_000),
      hungAfterS: int(env, 'NIGHTSHIFT_HUNG_AFTER_S', 1_800, 5, 7 * 86_400),
      blockAfterFailures: int(env, 'NIGHTSHIFT_CLASS_BLOCK_AFTER', 3, 1, 100),
      backoffBaseMs: int(env, 'NIGHTSHIFT_LAUNCH_BACKOFF_MS', 5_000, 10, 3_600_000),
      backoffCapMs: int(env, 'NIGHTSHIFT_LAUNCH_BACKOFF_CAP_MS', 300_000, 10, 86_400_000),
      bootstrapPowerOffMin: int(env, 'NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN', 30, 1, 1_440),
      pricingRefresh: bool({ NIGHTSHIFT_PRICING_REFRESH: ({ on: 'true', off: 'false' } as Env)[env.NIGHTSHIFT_PRICING_REFRESH ?? ''] ?? env.NIGHTSHIFT_PRICING_REFRESH }, 'NIGHTSHIFT_PRICING_REFRESH', false),
    },
    limits: {
      rateLimitPerMinute: int(env, 'NIGHTSHIFT_RATE_LIMIT_PER_MINUTE', 1_200, 0, 1_000_000),
      maxQueuedUnits: int(env, 'NIGHTSHIFT_MAX_QUEUED_UNITS', 5_000, 1, 10_000_000),
      maxEventStreams: int(env, 'NIGHTSHIFT_MAX_EVENT_STREAMS', 20, 1, 100_000),
      maxStoredBytes: int(env, 'NIGHTSHIFT_MAX_STORED_BYTES', 10 * 1024 ** 3, 1, Number.MAX_SAFE_INTEGER),
      maxJobCompute: num(env, 'NIGHTSHIFT_MAX_JOB_COMPUTE', 1, 1e30) ?? 1e15,
      maxPriority: int(env, 'NIGHTSHIFT_MAX_PRIORITY', 50, 0, 100),
      tenantMaxPriority: parseTenantInts(env, 'NIGHTSHIFT_TENANT_MAX_PRIORITY', 0, 100),
    },
    workerImage: image(env, 'NIGHTSHIFT_WORKER_IMAGE'),
    cpuWorkerImage: image(env, 'NIGHTSHIFT_CPU_WORKER_IMAGE'),
    accelerator: accelerator(env),
    healthFile: env.NIGHTSHIFT_HEALTH_FILE || undefined,
    provisionerPort: int(env, 'NIGHTSHIFT_PROVISIONER_PORT', 9090, 0, 65535),
    ...(env.NIGHTSHIFT_PARENT_PID ? { parentPid: int(env, 'NIGHTSHIFT_PARENT_PID', 1, 1, 2 ** 22) } : {}),
  };
}
