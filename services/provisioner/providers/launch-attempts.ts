/**
 * The order an EC2 launch tries its options in (pure, table-tested in
 * test/unit/provisioner-ec2-pure.test.ts): markets (spot "prefer": spot then
 * on-demand; "require": spot only; "no": on-demand), then instance types in
 * preference order, then subnets. Types the operator does not allow are skipped with
 * the reason; the caller checks prices and makes the calls.
 */
import type { Market } from '../../platform/fleet.ts';

export type LaunchStep =
  | { kind: 'try'; market: Market; type: string; subnet?: string; lastMarket: boolean }
  | { kind: 'skip'; market: Market; type: string; code: string };

export function* launchAttempts(markets: Market[], types: string[], subnets: string[], allowed: string[]): Generator<LaunchStep> {
  for (const [mi, market] of markets.entries()) {
    const lastMarket = mi === markets.length - 1;
    for (const type of types) {
      if (!allowed.includes(type)) {
        yield { kind: 'skip', market, type, code: 'not in NIGHTSHIFT_EC2_ALLOWED_TYPES' };
        continue;
      }
      if (!subnets.length) yield { kind: 'try', market, type, lastMarket };
      for (const subnet of subnets) yield { kind: 'try', market, type, subnet, lastMarket };
    }
  }
}
