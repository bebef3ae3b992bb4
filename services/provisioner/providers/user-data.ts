/**
 * Instance user data, rendered from a template under infra/bootstrap. It carries
 * configuration only — never job content — every value shell-quoted, and secrets by
 * reference (the name of an SSM parameter the instance reads with its own role).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../worker-process.ts';

export const USER_DATA_TEMPLATE = path.join(REPO_ROOT, 'infra/bootstrap/user-data.sh');

/** POSIX single-quote quoting: safe for any byte string except NUL. */
export function shellQuote(v: string): string {
  if (v.includes('\0')) throw new Error('a user-data value contains a NUL byte');
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** Replaces every {{NAME}} with the quoted value; a placeholder without a value is an error. */
export function renderUserData(template: string, vars: Record<string, string>): string {
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`user data: no value for {{${name}}}`);
    return shellQuote(v);
  });
  if (Buffer.byteLength(out) > 16 * 1024) throw new Error('user data exceeds 16 KiB');
  return out;
}

export function loadUserDataTemplate(file = USER_DATA_TEMPLATE): string {
  return readFileSync(file, 'utf8');
}
