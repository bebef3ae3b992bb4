/**
 * Runs the app on a port and closes it gracefully on SIGTERM/SIGINT: stop
 * accepting, let in-flight requests finish (open event streams are cut), then
 * resolve `closed`. Exported, not auto-run: the entry points call it.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from './app.ts';

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port actually bound (port 0 picks a free one) */
  url: string;
  /** resolves once the server has closed (after close() or a signal) */
  closed: Promise<void>;
  close(): Promise<void>;
}

export async function startServer(
  deps: AppDeps,
  opts: { host: string; port: number; signals?: NodeJS.Signals[] | false },
): Promise<RunningServer> {
  const app = await buildApp(deps);
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closing: Promise<void> | undefined;
  const signals = opts.signals === false ? [] : opts.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[]);
  const onSignal = (sig: NodeJS.Signals): void => {
    app.log.info({ signal: sig }, 'shutting down');
    void close();
  };
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of signals) process.off(s, onSignal);
      try {
        await app.close();
      } finally {
        resolveClosed();
      }
    })();
    return closing;
  };
  for (const s of signals) process.once(s, onSignal);
  return { app, url, closed, close };
}
