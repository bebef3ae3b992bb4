/**
 * Where the CLI talks to and with which key. The one place the CLI reads the
 * environment: flags win over NIGHTSHIFT_URL / NIGHTSHIFT_API_KEY, which win over
 * the local stack's files under the data dir (`npm start` writes local.json with its
 * URL and keeps the development key in dev-api-key). Every value is validated and a
 * bad one is reported naming the flag, variable or file it came from.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readStackInfo, stackInfoPath } from '../platform/stack-info.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface CliConfig {
  /** base URL without a trailing slash */
  url: string;
  /** Bearer key; undefined when none was given or found */
  key?: string;
  /** where the URL and the key came from, for messages */
  urlSource: string;
  keySource?: string;
}

/** A configuration value the user got wrong: the CLI exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConfigInput {
  url?: string;
  key?: string;
}

function readKeyFile(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function checkUrl(raw: string, source: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ConfigError(`${source}: ${JSON.stringify(raw)} is not a URL (expected e.g. ${DEFAULT_URL})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${source}: ${JSON.stringify(raw)} must be an http:// or https:// URL`);
  }
  if (u.search || u.hash) throw new ConfigError(`${source}: ${JSON.stringify(raw)} must not have a query or fragment`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export function checkKey(raw: string, source: string): string {
  const key = raw.trim();
  if (!key) throw new ConfigError(`${source}: the API key is empty`);
  if (/\s/.test(key)) throw new ConfigError(`${source}: the API key must not contain spaces`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new ConfigError(`${source}: the API key contains control characters`);
  return key;
}

/**
 * Resolves the CLI configuration from flags, the environment and the local stack's
 * files. `env` and `cwd` default to the process's; tests pass their own.
 */
export function loadCliConfig(flags: ConfigInput, env: Record<string, string | undefined> = process.env, cwd = process.cwd()): CliConfig {
  const dataDir = path.resolve(cwd, env.NIGHTSHIFT_DATA_DIR || '.nightshift');
  const localInfoFile = stackInfoPath(dataDir);
  const local = readStackInfo(dataDir);

  let url: string;
  let urlSource: string;
  if (flags.url !== undefined) {
    urlSource = '--url';
    url = checkUrl(flags.url, urlSource);
  } else if (env.NIGHTSHIFT_URL) {
    urlSource = 'NIGHTSHIFT_URL';
    url = checkUrl(env.NIGHTSHIFT_URL, urlSource);
  } else if (typeof local?.url === 'string') {
    urlSource = localInfoFile;
    url = checkUrl(local.url, urlSource);
  } else {
    urlSource = 'default';
    url = DEFAULT_URL;
  }

  let key: string | undefined;
  let keySource: string | undefined;
  if (flags.key !== undefined) {
    keySource = '--key';
    key = checkKey(flags.key, keySource);
  } else if (env.NIGHTSHIFT_API_KEY !== undefined && env.NIGHTSHIFT_API_KEY !== '') {
    keySource = 'NIGHTSHIFT_API_KEY';
    key = checkKey(env.NIGHTSHIFT_API_KEY, keySource);
  } else if (typeof local?.apiKey === 'string' && local.apiKey && typeof local.url === 'string' && safeUrl(local.url) === url) {
    // the running local stack's key, only for that stack
    keySource = localInfoFile;
    key = checkKey(local.apiKey, keySource);
  } else {
    const file = path.join(dataDir, 'dev-api-key');
    const fromFile = readKeyFile(file);
    if (fromFile !== undefined) {
      keySource = file;
      key = checkKey(fromFile, keySource);
    }
  }
  return { url, urlSource, ...(key !== undefined ? { key, keySource } : {}) };
}

function safeUrl(raw: string): string | undefined {
  try {
    return checkUrl(raw, 'url');
  } catch {
    return undefined;
  }
}
