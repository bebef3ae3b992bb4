/** Prometheus metrics of the provisioner: one series per decision, plus what it sees. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function provisionerMetrics(registry: Registry = new Registry()) {
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'nightshift_provisioner_reconciles_total', help: 'Reconcile passes by result', labelNames: ['result'] as const, registers }),
    reconcileSeconds: new Histogram({ name: 'nightshift_provisioner_reconcile_seconds', help: 'Duration of a reconcile pass', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    decisions: new Counter({ name: 'nightshift_provisioner_decisions_total', help: 'Planner decisions acted on', labelNames: ['action', 'reason', 'class'] as const, registers }),
    launched: new Counter({ name: 'nightshift_provisioner_instances_launched_total', help: 'Instances launched', labelNames: ['class', 'type', 'market'] as const, registers }),
    terminated: new Counter({ name: 'nightshift_provisioner_instances_terminated_total', help: 'Instances terminated', labelNames: ['reason'] as const, registers }),
    launchErrors: new Counter({ name: 'nightshift_provisioner_launch_errors_total', help: 'Failed launches by kind', labelNames: ['kind'] as const, registers }),
    skippedBusy: new Counter({ name: 'nightshift_provisioner_terminations_skipped_busy_total', help: 'Terminations called off because the instance took a unit', registers }),
    held: new Counter({ name: 'nightshift_provisioner_launches_held_total', help: 'Wanted launches held back', labelNames: ['reason', 'class'] as const, registers }),
    instances: new Gauge({ name: 'nightshift_provisioner_instances', help: 'Instances seen, by class and state', labelNames: ['class', 'state'] as const, registers }),
    units: new Gauge({ name: 'nightshift_provisioner_units', help: 'Units seen, by class and state', labelNames: ['class', 'state'] as const, registers }),
    spentUsd: new Gauge({ name: 'nightshift_provisioner_spent_usd', help: 'USD spent on instances so far (terminated + running)', registers }),
    leader: new Gauge({ name: 'nightshift_provisioner_leader', help: '1 while this provisioner holds the lease', registers }),
  };
}
export type ProvisionerMetrics = ReturnType<typeof provisionerMetrics>;

/** the units and instances gauges, from what one pass saw */
export function updateGauges(m: ProvisionerMetrics, demand: Record<string, { pending: number; running: number }>, observed: Array<{ resourceClass: string; known: boolean; heartbeat?: { activeUnits: number; drainingAt?: number } }>): void {
  m.units.reset();
  for (const [cls, v] of Object.entries(demand)) {
    m.units.set({ class: cls, state: 'pending' }, v.pending);
    m.units.set({ class: cls, state: 'running' }, v.running);
  }
  m.instances.reset();
  const counts = new Map<string, number>();
  for (const o of observed) {
    const state = o.heartbeat?.drainingAt ? 'draining' : !o.heartbeat ? (o.known ? 'booting' : 'orphan') : o.heartbeat.activeUnits > 0 ? 'busy' : 'idle';
    const key = `${o.resourceClass}\u0000${state}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [key, n] of counts) {
    const [cls, state] = key.split('\u0000');
    m.instances.set({ class: cls, state }, n);
  }
}
