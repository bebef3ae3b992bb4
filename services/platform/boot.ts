/**
 * Start-up of a nightshift process: the configuration is read once, and a bad value
 * stops the process with exit code 2 and a message naming the variable.
 */
import { ConfigError, loadConfig, type Config } from '../core/config.ts';

export function configOrExit(program: string, env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`nightshift ${program}: configuration error: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
