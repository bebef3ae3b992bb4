/**
 * The composition root of compute: NIGHTSHIFT_COMPUTE picks the provider once, from
 * a typed table (no string dispatch elsewhere).
 */
import type { ComputeKind, Config } from '../../core/config.ts';
import type { ComputeProvider } from '../provider.ts';
import { createLocalProvider } from './local.ts';
import { createEc2Provider, type Ec2ProviderDeps } from './ec2.ts';

export interface ComputeDeps extends Ec2ProviderDeps {
  /** base environment for local worker processes (default process.env) */
  env?: Record<string, string | undefined>;
  /** worker entry for local workers (default workers/trainer/main.ts) */
  workerEntry?: string;
}

type Factory = (config: Config, deps: ComputeDeps) => ComputeProvider;

const FACTORIES: Record<ComputeKind, Factory> = {
  local: (config, deps) => createLocalProvider(config, { ...(deps.env ? { env: deps.env } : {}), ...(deps.workerEntry ? { entry: deps.workerEntry } : {}) }),
  ec2: (config, deps) => createEc2Provider(config, deps),
};

export function createComputeProvider(config: Config, deps: ComputeDeps = {}): ComputeProvider {
  return FACTORIES[config.compute](config, deps);
}
