import type { ChildProcess } from 'node:child_process';

/** The URL an API child process prints ("listening on <url>") once it serves. */
export function listeningUrl(api: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    api.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    api.once('exit', (code) => reject(new Error(`the API exited with ${code}`)));
  });
}
