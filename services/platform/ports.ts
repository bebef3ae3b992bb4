import { createServer } from 'node:net';

/** A free TCP port on loopback: `preferred` when it is free, else one the system picks. */
export async function freePort(preferred?: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(undefined));
      s.listen(port, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
  if (preferred) {
    const p = await tryPort(preferred);
    if (p) return p;
  }
  const any = await tryPort(0);
  if (any === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return any;
}
