/**
 * What the provisioner needs from a cloud: launch, describe by cluster tag,
 * terminate, prices. The provisioner sees only this interface; `createComputeProvider`
 * (index.ts) picks the implementation once at start-up.
 */
import type { ComputeKind } from '../core/config.ts';
import type { Market, SpotPolicy } from '../platform/fleet.ts';

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface ProviderInstance {
  id: string;
  state: InstanceState;
  type: string;
  market: Market;
  launchedAt: number;
  /** from the instance's tags: which launch made it and which class it serves */
  launchId?: string;
  resourceClass?: string;
  /** availability zone it runs in (spot prices are per zone) */
  zone?: string;
  /** when it ended, when the provider knows it exactly (the local provider: the worker's exit) */
  endedAt?: number;
}

export interface LaunchRequest {
  /** deterministic id of this launch; instances carry it as a tag, retries reuse it */
  launchId: string;
  resourceClass: string;
  count: number;
  spot: SpotPolicy;
  /** the job's own instance types, in preference order (else the provider's configured list) */
  instanceTypes?: string[];
  /** the job's price cap per instance-hour: dearer types are skipped, spot bids no more */
  maxHourlyUsd?: number;
}

export interface LaunchResult {
  instances: ProviderInstance[];
  /** price of what was launched (USD/h per instance) */
  hourlyUsd: number;
  /** the on-demand price of that type (spot savings are measured against it) */
  onDemandUsd?: number;
  /** minimum billed seconds of an instance (default 60, EC2's) */
  minBilledS?: number;
  /** where hourlyUsd came from ('spot-history', 'catalog', 'catalog: no spot price history', 'local') */
  priceSource?: string;
}

export interface ComputeProvider {
  readonly kind: ComputeKind;
  /**
   * Launches `count` instances for a launch id, idempotently: instances already
   * tagged with that launch id count toward `count`. May launch fewer than asked
   * (the next reconcile asks again); throws LaunchError when it launched none.
   */
  launch(req: LaunchRequest): Promise<LaunchResult>;
  /** every instance of this cluster that is not long gone (terminated ones may still be listed) */
  describe(): Promise<ProviderInstance[]>;
  /** idempotent: unknown or already-terminated ids are not an error */
  terminate(ids: string[]): Promise<void>;
  /** expected USD/h of one new instance for a class (planner budget and cost estimates) */
  hourlyUsd(resourceClass: string, spot: SpotPolicy): Promise<number>;
  /** units one instance of this class runs at once */
  slots(resourceClass: string): number;
  /**
   * The spot price in force now for a type in one zone, and since when (EC2:
   * DescribeSpotPriceHistory); undefined when there is no usable history (emulators).
   * Providers without a spot market leave it out.
   */
  spotPrice?(type: string, zone: string): Promise<{ hourlyUsd: number; since: number } | undefined>;
  close?(): Promise<void>;
}

/** quota: an account limit (vCPUs, spot instance count) that no retry can change */
export type LaunchErrorKind = 'capacity' | 'retryable' | 'fatal' | 'quota';

export class LaunchError extends Error {
  constructor(
    readonly kind: LaunchErrorKind,
    message: string,
    readonly attempts: Array<{ type: string; subnet?: string; market: Market; code: string }> = [],
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}
