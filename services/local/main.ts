/** `npm start`: the local stack until SIGINT/SIGTERM. */
import { ConfigError } from '../core/config.ts';
import { startStack } from './stack.ts';
import { StackError } from './infra.ts';

try {
  const stack = await startStack();
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${sig}: stopping nightshift (workers checkpoint and exit)...\n`);
    await stack.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (e) {
  if (e instanceof ConfigError || e instanceof StackError) {
    process.stderr.write(`nightshift: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
