/**
 * The local stack's info file (`<data dir>/local.json`): where a running `npm start`
 * listens and its development key. `npm start` writes it; the CLI and the demo read
 * it to find a running stack.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface LocalStackInfo {
  url: string;
  apiKey: string;
  pid: number;
}

export const stackInfoPath = (dataDir: string): string => path.join(dataDir, 'local.json');

/** The info file's fields as written (any may be missing in a hand-edited or older file); undefined when there is none. */
export function readStackInfo(dataDir: string): Partial<LocalStackInfo> | undefined {
  try {
    const info = JSON.parse(readFileSync(stackInfoPath(dataDir), 'utf8')) as unknown;
    return info && typeof info === 'object' ? (info as Partial<LocalStackInfo>) : undefined;
  } catch {
    return undefined;
  }
}
