/**
 * The EC2 provider. Idempotent and tag-driven: every instance carries the cluster,
 * its resource class and the launch id; a launch first lists what that launch id
 * already has and creates only what is missing, with a ClientToken derived from the
 * launch id, market, type and subnet (a retried call cannot double-launch on EC2;
 * emulators that ignore the token are covered by the tag lookup).
 *
 * Launch order: launch-attempts.ts (markets, then instance types in preference order,
 * then subnets). Capacity errors move on to the next option; throttling and 5xx back
 * off and retry the same option in this provider's loop (the SDK's own retries are
 * off for RunInstances); anything else surfaces at once (classifyLaunchError).
 */
import { parseResourceClass } from '../../core/resource-class.ts';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Config } from '../../core/config.ts';
import type { Market, SpotPolicy } from '../../platform/fleet.ts';
import { LaunchError, type ComputeProvider, type InstanceState, type LaunchRequest, type LaunchResult, type ProviderInstance } from '../provider.ts';
import { QUOTAS, backoffMs, classifyLaunchError, errorCode } from './ec2-errors.ts';
import { TAG } from './ec2-tags.ts';
import { gpusOfType, onDemandQuote } from '../../core/prices.ts';
import { createOnDemandRefresher, type OnDemandRefresher } from './pricing.ts';
import { formatS3Grants } from '../../core/data-sources.ts';
import { pickSpotRow, type SpotRow } from './spot-prices.ts';
import { launchAttempts, type LaunchStep } from './launch-attempts.ts';
import { loadUserDataTemplate, renderUserData } from './user-data.ts';
import { classTypes, IMAGES, imageFor, machineFamily, slotsOf, type ImageKey, type MachineImage } from '../../core/machines.ts';

export interface Ec2ProviderDeps {
  ec2?: EC2Client;
  ssm?: SSMClient;
  logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** newest image whose name matches, when no AMI id is given and the SSM parameter cannot be read (overrides every image's own pattern) */
  amiNameFilter?: string;
  amiOwners?: string[];
  /** SSM parameter per machine image, instead of the public ones of core/machines.ts (tests: emulators have no public parameters) */
  amiParameters?: Partial<Record<ImageKey, string>>;
  userDataTemplate?: string;
  /** retries of one option on throttling/5xx (default 4) and the backoff base (default 500 ms) */
  maxRetries?: number;
  backoffBaseMs?: number;
  /** on-demand prices from the Pricing API (default: one when NIGHTSHIFT_PRICING_REFRESH=on, else the catalog alone) */
  pricing?: OnDemandRefresher;
}

// terminated instances stay listed for a while: the provisioner retires its records from them
const LISTED_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'];

/** ClientToken: at most 64 ASCII characters, deterministic per launch option. */
export function clientToken(launchId: string, market: Market, type: string, subnet: string | undefined): string {
  const raw = `${launchId}.${market === 'spot' ? 's' : 'o'}.${type}.${subnet ?? 'd'}`;
  return raw.length <= 64 ? raw : raw.slice(0, 64);
}

/**
 * The types a launch may try, in order. A fallback type from the configured list that
 * holds more GPUs than the first one would be paid several times over for one unit's
 * work, so it is tried only when the job's own resources.instanceTypes names it.
 */
export function launchTypes(configured: string[], jobTypes: string[] | undefined): { types: string[]; skipped: string[] } {
  if (jobTypes?.length) return { types: jobTypes, skipped: [] };
  const first = configured[0];
  if (first === undefined) return { types: [], skipped: [] };
  const base = gpusOfType(first) ?? 1;
  const types = configured.filter((t, i) => i === 0 || (gpusOfType(t) ?? 1) <= base);
  return { types, skipped: configured.filter((t) => !types.includes(t)) };
}

export function marketsFor(spot: SpotPolicy): Market[] {
  return spot === 'no' ? ['on-demand'] : spot === 'prefer' ? ['spot', 'on-demand'] : ['spot'];
}

function tagOf(i: Instance, key: string): string | undefined {
  return i.Tags?.find((t) => t.Key === key)?.Value;
}

function toView(i: Instance): ProviderInstance {
  const launchId = tagOf(i, TAG.launch);
  const resourceClass = tagOf(i, TAG.resourceClass);
  return {
    id: i.InstanceId!,
    state: (i.State?.Name ?? 'pending') as InstanceState,
    type: i.InstanceType ?? 'unknown',
    market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    launchedAt: i.LaunchTime ? i.LaunchTime.getTime() : Date.now(),
    ...(launchId ? { launchId } : {}),
    ...(resourceClass ? { resourceClass } : {}),
    ...(i.Placement?.AvailabilityZone ? { zone: i.Placement.AvailabilityZone } : {}),
  };
}

export function createEc2Provider(config: Config, deps: Ec2ProviderDeps = {}): ComputeProvider {
  const aws = {
    region: config.s3.region,
    ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
    ...(config.s3.accessKeyId && config.s3.secretAccessKey ? { credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey } } : {}),
  };
  const ec2 = deps.ec2 ?? new EC2Client(aws);
  // RunInstances is retried by the provider's own loop (tryOption) with its backoff; the
  // SDK's retries inside it would multiply the attempts, so that call goes through a
  // client with maxAttempts 1. Every other call keeps the SDK's standard retries.
  const runClient = deps.ec2 ?? new EC2Client({ ...aws, maxAttempts: 1 });
  const ssm = deps.ssm ?? new SSMClient(aws);
  const log = deps.logger ?? { info() {}, warn() {} };
  const e = config.ec2;
  const maxRetries = deps.maxRetries ?? 4;
  const backoffBase = deps.backoffBaseMs ?? 500;
  const template = deps.userDataTemplate ?? loadUserDataTemplate();
  const amis = new Map<string, Promise<string>>();
  const spotCache = new Map<string, { at: number; row: SpotRow | undefined }>();

  /** the parameter and name pattern an image is found by (NIGHTSHIFT_EC2_AMI_SSM_PARAMETER overrides every family) */
  function lookupOf(img: MachineImage): { parameter: string; nameFilter: string } {
    return { parameter: e.amiSsmParameter ?? deps.amiParameters?.[img.key] ?? img.ssmParameter, nameFilter: deps.amiNameFilter ?? img.nameFilter };
  }

  async function resolveAmi(img: MachineImage): Promise<string> {
    const { parameter, nameFilter } = lookupOf(img);
    try {
      const p = await ssm.send(new GetParameterCommand({ Name: parameter }));
      if (p.Parameter?.Value) return p.Parameter.Value;
    } catch (err) {
      log.warn({ parameter, err: errorCode(err) }, 'AMI parameter unreadable; looking the image up by name');
    }
    const out = await ec2.send(new DescribeImagesCommand({ Owners: deps.amiOwners ?? ['amazon'], Filters: [{ Name: 'name', Values: [nameFilter] }] }));
    const newest = (out.Images ?? []).filter((i) => i.ImageId).sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
    if (!newest?.ImageId) throw new LaunchError('fatal', `no AMI for ${img.key}: set NIGHTSHIFT_EC2_AMI_ID, or make ${parameter} readable, or an image named "${nameFilter}" visible`);
    return newest.ImageId;
  }
  /** the AMI of an instance type: NIGHTSHIFT_EC2_AMI_ID, else its family's image (core/machines.ts) */
  function amiFor(type: string): Promise<string> {
    if (e.amiId) return Promise.resolve(e.amiId);
    const img = imageFor(type);
    if (!img) return Promise.reject(new LaunchError('fatal', `${type}: no machine image is known for this instance family`));
    const key = e.amiSsmParameter ? 'override' : img.key;
    let p = amis.get(key);
    if (!p) {
      p = resolveAmi(img);
      amis.set(key, p);
      p.catch(() => amis.delete(key));
    }
    return p;
  }

  async function list(filters: Filter[]): Promise<Instance[]> {
    const out: Instance[] = [];
    let NextToken: string | undefined;
    do {
      const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.cluster}`, Values: [e.cluster] }, ...filters], NextToken }));
      for (const res of r.Reservations ?? []) out.push(...(res.Instances ?? []));
      NextToken = r.NextToken;
    } while (NextToken);
    return out;
  }

  const byLaunch = (launchId: string) => list([{ Name: `tag:${TAG.launch}`, Values: [launchId] }, { Name: 'instance-state-name', Values: ['pending', 'running'] }]);

  /** User data of one instance type: the bootstrap variant of its image, the worker image, --gpus all for GPU types only. */
  function userData(type: string): string {
    const fam = machineFamily(type);
    const img = imageFor(type) ?? IMAGES['al2023-cpu'];
    const gpu = fam?.accelerator === 'gpu';
    const image = gpu ? config.workerImage : config.cpuWorkerImage ?? config.workerImage;
    if (!image) throw new LaunchError('fatal', 'NIGHTSHIFT_WORKER_IMAGE is not set: instances run the worker from that container image (docs/aws.md, "Worker images")');
    return Buffer.from(
      renderUserData(template, {
        BOOTSTRAP_OS: img.os,
        WORKER_IMAGE: image,
        GPU_FLAGS: gpu ? '--gpus all' : '',
        ACCELERATOR: gpu ? 'gpu' : 'cpu',
        WORKER_SLOTS: String(slotsOf(type)),
        LOG_GROUP: e.logGroup,
        NIGHTSHIFT_PREFIX: config.prefix,
        NIGHTSHIFT_REDIS_CLUSTER: String(config.redisCluster),
        NIGHTSHIFT_CLUSTER: e.cluster,
        NIGHTSHIFT_IDLE_TIMEOUT_S: String(config.idleTimeoutS),
        NIGHTSHIFT_S3_BUCKET: config.s3.bucket,
        AWS_REGION: config.s3.region,
        NIGHTSHIFT_REDIS_URL_PARAMETER: e.redisUrlParameter ?? `/${e.cluster}/redis-url`,
        // workers re-check every s3:// data set against the same grants as the API
        NIGHTSHIFT_S3_SOURCES: formatS3Grants(config.s3Sources),
        NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN: String(config.costs.bootstrapPowerOffMin),
      }),
    ).toString('base64');
  }

  function runInput(req: LaunchRequest, count: number, image: string, market: Market, type: string, subnet: string | undefined): RunInstancesCommandInput {
    const tags = [
      { Key: 'Name', Value: `nightshift-${e.cluster}-${req.resourceClass}`.slice(0, 255) },
      { Key: TAG.cluster, Value: e.cluster },
      { Key: TAG.resourceClass, Value: req.resourceClass },
      { Key: TAG.launch, Value: req.launchId },
      { Key: TAG.role, Value: 'worker' },
    ];
    return {
      ImageId: image,
      InstanceType: type as RunInstancesCommandInput['InstanceType'],
      MinCount: count,
      MaxCount: count,
      ClientToken: clientToken(req.launchId, market, type, subnet),
      InstanceInitiatedShutdownBehavior: 'terminate',
      UserData: userData(type),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      ...(subnet ? { SubnetId: subnet } : {}),
      ...(e.securityGroupIds.length ? { SecurityGroupIds: e.securityGroupIds } : {}),
      ...(e.instanceProfile ? { IamInstanceProfile: e.instanceProfile.startsWith('arn:') ? { Arn: e.instanceProfile } : { Name: e.instanceProfile } } : {}),
      ...(e.keyName ? { KeyName: e.keyName } : {}),
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
      ...(market === 'spot'
        ? { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate', ...(req.maxHourlyUsd !== undefined ? { MaxPrice: String(req.maxHourlyUsd) } : {}) } } }
        : {}),
    };
  }

  /** the spot price row of a type (in one zone when given: what an instance there pays), re-read at most every 10 minutes */
  async function spotRow(type: string, zone?: string): Promise<SpotRow | undefined> {
    const ck = `${type}|${zone ?? ''}`;
    const c = spotCache.get(ck);
    if (c && Date.now() - c.at < 10 * 60_000) return c.row;
    let row: SpotRow | undefined;
    try {
      const r = await ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: [type as never], ProductDescriptions: ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'], StartTime: new Date(Date.now() - 3_600_000), ...(zone ? { AvailabilityZone: zone } : {}) }));
      row = pickSpotRow((r.SpotPriceHistory ?? []).map((h) => ({ availabilityZone: h.AvailabilityZone, price: Number(h.SpotPrice), at: h.Timestamp?.getTime() ?? 0 })), odQuote(type).usd);
    } catch (err) {
      log.warn({ type, err: errorCode(err) }, 'spot price history unavailable');
    }
    spotCache.set(ck, { at: Date.now(), row });
    return row;
  }
  const spotUsd = async (type: string, zone?: string): Promise<number | undefined> => (await spotRow(type, zone))?.price;
  const region = config.s3.region;
  const pricing = deps.pricing ?? (config.costs.pricingRefresh ? createOnDemandRefresher({
    region, types: e.allowedTypes, log,
    ...(config.s3.accessKeyId && config.s3.secretAccessKey ? { credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey } } : {}),
  }) : undefined);
  /** the on-demand price of a type here: the Pricing API's figure when one was read, else the catalog's */
  const odQuote = (type: string) => {
    pricing?.refreshIfStale();
    return onDemandQuote(type, region, pricing?.overrides());
  };
  const priceOf = async (type: string, market: Market) => (market === 'spot' ? (await spotUsd(type)) ?? odQuote(type).usd : odQuote(type).usd);
  /** what a launch of this type and market is paid, and where the figure comes from */
  async function quote(type: string, market: Market, zone?: string): Promise<Pick<LaunchResult, 'hourlyUsd' | 'onDemandUsd' | 'priceSource'>> {
    const q = odQuote(type);
    const od = q.usd;
    if (market !== 'spot') return { hourlyUsd: od, onDemandUsd: od, priceSource: q.source === 'pricing-api' ? 'pricing-api' : 'catalog' };
    const spot = await spotUsd(type, zone);
    return spot === undefined ? { hourlyUsd: od, onDemandUsd: od, priceSource: 'catalog: no spot price history' } : { hourlyUsd: spot, onDemandUsd: od, priceSource: 'spot-history' };
  }

  /**
   * One launch option (market, type, subnet): RunInstances for what the launch still
   * misses, retried here on throttling and 5xx (the client's own retries are off, see
   * runClient). Capacity errors move on to the next option, a refused spot request of
   * "prefer" to the next market; anything else ends the launch.
   */
  async function tryOption(req: LaunchRequest, step: Extract<LaunchStep, { kind: 'try' }>, have: Instance[], attempts: Array<{ type: string; subnet?: string; market: Market; code: string }>): Promise<{ result?: LaunchResult; next?: 'option' | 'market' }> {
    const { market, type, subnet } = step;
    const image = await amiFor(type);
    for (let attempt = 0; ; attempt++) {
      const already = attempt === 0 ? have : await byLaunch(req.launchId);
      const missing = req.count - already.length;
      if (missing <= 0) return { result: { instances: already.map(toView), ...(await quote(type, market, already.map(toView)[0]?.zone)) } };
      try {
        const out = await runClient.send(new RunInstancesCommand(runInput(req, missing, image, market, type, subnet)));
        const got = [...already, ...(out.Instances ?? [])].map(toView);
        log.info({ launchId: req.launchId, type, market, subnet, ids: got.map((i) => i.id) }, 'instances launched');
        return { result: { instances: got, ...(await quote(type, market, got[0]?.zone)) } };
      } catch (err) {
        const code = errorCode(err);
        const cls = classifyLaunchError(err);
        attempts.push({ type, market, code, ...(subnet ? { subnet } : {}) });
        if (cls === 'retry' && attempt < maxRetries) {
          const wait = backoffMs(attempt, backoffBase);
          log.warn({ launchId: req.launchId, type, market, code, attempt, waitMs: wait }, 'launch throttled or failed on the server side; backing off');
          await new Promise((r) => setTimeout(r, wait));
          continue;
        }
        if (cls === 'retry') throw new LaunchError('retryable', `RunInstances kept failing (${code}) for ${type}/${market}`, attempts);
        if ((cls === 'fatal' || cls === 'quota') && !step.lastMarket) {
          log.warn({ launchId: req.launchId, type, market, code }, 'spot launch refused; trying on-demand');
          return { next: 'market' };
        }
        if (cls === 'quota') throw new LaunchError('quota', `quota reached for ${type}/${market}: ${code}: ${QUOTAS[code]}; ask AWS to raise it (Service Quotas) or choose other instance types`, attempts);
        if (cls === 'fatal') throw new LaunchError('fatal', `RunInstances refused ${type}/${market}: ${code}: ${(err as Error).message}`, attempts);
        log.warn({ launchId: req.launchId, type, market, subnet, code }, 'no capacity; trying the next option');
        return { next: 'option' };
      }
    }
  }

  return {
    kind: 'ec2',
    async launch(req: LaunchRequest): Promise<LaunchResult> {
      const have = await byLaunch(req.launchId);
      if (have.length >= req.count) {
        const v = have.map(toView);
        return { instances: v, ...(await quote(v[0].type, v[0].market, v[0].zone)) };
      }
      const attempts: Array<{ type: string; subnet?: string; market: Market; code: string }> = [];
      const { types, skipped } = launchTypes(classTypes(parseResourceClass(req.resourceClass), e), req.instanceTypes);
      for (const t of skipped) attempts.push({ type: t, market: 'on-demand', code: 'more GPUs than one unit uses: name it in resources.instanceTypes to allow it' });
      const cap = Math.min(req.maxHourlyUsd ?? Infinity, e.maxHourlyUsd ?? Infinity);
      const overCap = new Set<string>();
      let abandoned: Market | undefined;
      for (const step of launchAttempts(marketsFor(req.spot), types, e.subnetIds, e.allowedTypes)) {
        if (step.market === abandoned || overCap.has(`${step.type}/${step.market}`)) continue;
        if (step.kind === 'skip') {
          attempts.push({ type: step.type, market: step.market, code: step.code });
          continue;
        }
        if (cap !== Infinity && (await priceOf(step.type, step.market)) > cap) {
          overCap.add(`${step.type}/${step.market}`);
          attempts.push({ type: step.type, market: step.market, code: `over maxHourlyUsd ${cap}` });
          continue;
        }
        const r = await tryOption(req, step, have, attempts);
        if (r.result) return r.result;
        // spot "prefer": a refusal of the spot request (quota, permissions, ...) still tries on-demand
        if (r.next === 'market') abandoned = step.market;
      }
      const what = req.spot === 'require' ? 'spot capacity (spot "require": waiting for the next pass)' : 'capacity';
      throw new LaunchError('capacity', `no ${what} for ${types.join(', ')}: ${attempts.map((a) => `${a.type}/${a.market}${a.subnet ? `/${a.subnet}` : ''}: ${a.code}`).join('; ')}`, attempts);
    },
    async describe() {
      return (await list([{ Name: 'instance-state-name', Values: LISTED_STATES }])).map(toView);
    },
    async terminate(ids: string[]) {
      if (!ids.length) return;
      try {
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
      } catch (err) {
        if (errorCode(err) !== 'InvalidInstanceID.NotFound' || ids.length === 1) {
          if (errorCode(err) === 'InvalidInstanceID.NotFound') return;
          throw err;
        }
        // one unknown id fails the whole call: end the others one by one
        for (const id of ids) await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })).catch((e2) => {
          if (errorCode(e2) !== 'InvalidInstanceID.NotFound') throw e2;
        });
      }
    },
    async hourlyUsd(cls: string, spot: SpotPolicy) {
      const type = classTypes(parseResourceClass(cls), e)[0] ?? 'p3.2xlarge';
      // "prefer" may end on-demand: budget with the dearer price
      return priceOf(type, spot === 'require' ? 'spot' : 'on-demand');
    },
    slots(cls: string) {
      const type = classTypes(parseResourceClass(cls), e)[0];
      return type ? slotsOf(type) : 1;
    },
    async spotPrice(type: string, zone: string) {
      const row = await spotRow(type, zone);
      return row ? { hourlyUsd: row.price, since: row.at } : undefined;
    },
    async close() {
      if (!deps.ec2) {
        ec2.destroy();
        runClient.destroy();
      }
      if (!deps.ssm) ssm.destroy();
    },
  };
}
