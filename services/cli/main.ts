/**
 * `nightshift`: the command-line client of the nightshift HTTP API. Commander
 * wiring only; the commands live in commands.ts, the HTTP client in client.ts,
 * formatting in format.ts and configuration in config.ts.
 *
 * Exit codes: 0 done; 1 the API answered an error, the server could not be reached
 * or a followed job did not complete; 2 usage or configuration mistakes.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { JOB_STATUSES } from '../core/job.ts';
import { ApiError, ConnectionError, batchClient, createClient, type Client } from './client.ts';
import { createBatchCommands } from './batches.ts';
import { BATCH_STATUSES } from '../core/batch.ts';
import { createCommands, type Io } from './commands.ts';
import { createKeyCommands } from './keys.ts';
import { createBudgetCommands } from './budgets.ts';
import { ConfigError, loadCliConfig, type CliConfig } from './config.ts';
import { UsageError } from './format.ts';

function processIo(): Io {
  // `nightshift history ID --csv | head` closes the pipe early: not an error
  const ignoreEpipe = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  };
  process.stdout.on('error', ignoreEpipe);
  return {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
    write: (bytes) => void process.stdout.write(bytes),
    stdoutIsTty: !!process.stdout.isTTY,
    readStdin: () => readFileSync(0, 'utf8'),
    cwd: process.cwd(),
  };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const intArg = (name: string, min: number, max: number) => (raw: string): number => {
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
  return v;
};

const collect = (v: string, prev: string[]): string[] => [...prev, v];

const ENV_HELP = `
Configuration:
  --url      NIGHTSHIFT_URL       API base URL (default: the local stack from
                                  .nightshift/local.json, else http://127.0.0.1:8080)
  --key      NIGHTSHIFT_API_KEY   API key (default: .nightshift/dev-api-key)
  NIGHTSHIFT_DATA_DIR             where the local stack keeps those files (.nightshift)

Exit codes: 0 ok, 1 API error / unreachable / job not completed, 2 usage error.`;

export async function main(argv: string[], io: Io = processIo(), env: Record<string, string | undefined> = process.env): Promise<number> {
  let config: CliConfig | undefined;
  let exitCode = 0;

  const program = new Command('nightshift')
    .description('Command-line client of the nightshift API: upload data sets, submit training jobs, follow them and read their results.')
    .option('--url <url>', 'API base URL (env NIGHTSHIFT_URL)')
    .option('--key <key>', 'API key (env NIGHTSHIFT_API_KEY)')
    .version(version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', ENV_HELP);

  const client = (): Client => {
    const g = program.opts<{ url?: string; key?: string }>();
    config = loadCliConfig({ ...(g.url !== undefined ? { url: g.url } : {}), ...(g.key !== undefined ? { key: g.key } : {}) }, env, io.cwd);
    if (!config.key) {
      throw new ConfigError('no API key: pass --key or set NIGHTSHIFT_API_KEY (`npm start` keeps a development key in .nightshift/dev-api-key)');
    }
    return createClient({ url: config.url, key: config.key });
  };
  const cmd = createCommands(client, io);
  const batch = createBatchCommands({ client: () => batchClient({ url: client().url, key: config!.key! }), io });
  const run = (f: () => Promise<number>) => async () => {
    exitCode = await f();
  };

  const datasets = program.command('datasets').description('data sets (CSV uploads)');
  datasets
    .command('upload <file>')
    .description('upload a CSV file; prints its id, uri (for dataset.uri), rows, columns and sha256')
    .option('--name <name>', 'name to refer to it by (dataset:<name>)')
    .option('--header', 'the first line is a header row', false)
    .option('--json', 'print the raw API answer')
    .action((file: string, o) => run(() => cmd.datasetsUpload(file, o))());

  program
    .command('submit <spec>')
    .description('submit a JobSpec (JSON file, or - for stdin); prints the job id')
    .option('--dry-run', 'only validate and count the training units')
    .option('--set <path=value>', 'patch the spec, e.g. training.epochs=50 or model.layers.0.units=20 (repeatable; values are JSON when they parse)', collect, [])
    .option('--dataset <uri>', 'override dataset.uri (dataset:<id|name>, s3://..., builtin:...)')
    .option('--wait', 'follow the job until it ends (progress on stderr); exit 1 unless it completed')
    .option('--json', 'print the raw API answer')
    .action((spec: string, o) => run(() => cmd.submit(spec, o))());

  program
    .command('jobs')
    .description('list jobs, newest first')
    .addOption(new Option('--status <status>', 'only jobs with this status').choices(JOB_STATUSES))
    .option('--limit <n>', 'at most this many (1-200)', intArg('--limit', 1, 200))
    .option('--batch <id>', 'only jobs of this batch')
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .option('--json', 'print the raw API answer')
    .action((o) => run(() => cmd.jobs(o))());

  program
    .command('status <id>')
    .description('a job: status, progress, result statistics, error')
    .option('--json', 'print the raw API answer')
    .action((id: string, o) => run(() => cmd.status(id, o))());

  program
    .command('watch <id>')
    .description('follow a job live until it ends (exit 1 unless it completed)')
    .option('--json', 'print each event as a JSON line')
    .addOption(new Option('--poll-ms <ms>', 'polling period when the event stream is unavailable').argParser(intArg('--poll-ms', 50, 600_000)).hideHelp())
    .action((id: string, o) => run(() => cmd.watch(id, o))());

  program
    .command('history <id>')
    .description('learning curves: one row per unit, or per epoch with --unit')
    .option('--unit <key>', 'one unit\'s per-epoch table (e.g. r0-p0-f0, or final)')
    .option('--csv', 'CSV of every epoch (unit,kind,run,repeat,fold,epoch,loss,val_loss,...)')
    .option('--json', 'print the raw API answer')
    .action((id: string, o) => run(() => cmd.history(id, o))());

  program
    .command('results <id>')
    .description('scores per unit and their statistics (summary.json)')
    .option('--json', 'print summary.json as is')
    .action((id: string, o) => run(() => cmd.results(id, o))());

  program
    .command('artifacts <id> <name>')
    .description('download an artifact: history.json, summary.json, spec.json, model.json, weights.bin, meta.json, units/<unit>/history.json')
    .option('-o, --output <file>', 'where to write it (- for stdout; default: the artifact\'s file name)')
    .action((id: string, name: string, o) => run(() => cmd.artifacts(id, name, o))());

  program
    .command('predict <id>')
    .description('predict with a completed job\'s final model; prints predictions and labels')
    .option('--rows <json>', 'rows as JSON, e.g. \'[[0.23, 5.07, -0.28]]\'')
    .option('--csv <file>', 'rows from a numeric CSV file (feature columns only)')
    .option('--header', 'the CSV file has a header row', false)
    .option('--json', 'print the raw API answer')
    .action((id: string, o) => run(() => cmd.predict(id, o))());

  program
    .command('cancel <id>')
    .description('cancel a queued or running job')
    .option('--json', 'print the raw API answer')
    .action((id: string, o) => run(() => cmd.cancel(id, o))());

  program
    .command('instances')
    .description('the fleet (admin keys only)')
    .addOption(new Option('--state <state>', 'live, terminated or all').choices(['live', 'terminated', 'all']))
    .option('--json', 'print the raw API answer')
    .action((o) => run(() => cmd.instances(o))());

  program
    .command('batch <what> [arg]')
    .description('a batch: `batch submit <batch.json> [--watch]`, `batch <id>` (leaderboard), `batch report <id> [--csv]`, `batch cancel <id>`, `batch retry-failed <id>`')
    .option('--set <path=value>', 'submit: patch the BatchSpec, e.g. budgetUsd=40 (repeatable)', collect, [])
    .option('--watch', 'follow the batch until it ends (progress on stderr); with submit, exit 1 unless it completed')
    .option('--dry-run', 'submit: only expand and check; prints the jobs, their units and when the batch would start and end')
    .option('--csv', 'report: CSV instead of Markdown')
    .option('--json', 'print the raw API answer')
    .action((what: string, arg: string | undefined, o) => run(() => batch.dispatch(what, arg, o))());

  program
    .command('batches')
    .description('list batches, newest first')
    .addOption(new Option('--status <status>', 'only batches with this status').choices(BATCH_STATUSES))
    .option('--limit <n>', 'at most this many (1-100)', intArg('--limit', 1, 100))
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .option('--json', 'print the raw API answer')
    .action((o) => run(() => batch.list(o))());

  program
    .command('cost')
    .description('what instances cost, per day, job, batch, instance type or tenant, with idle spend, spot savings and budgets left')
    .addOption(new Option('--by <group>', 'day, job, batch, instanceType or tenant').choices(['day', 'job', 'batch', 'instanceType', 'tenant']).default('day'))
    .option('--from <date>', 'costs billed from this ISO date or time (UTC)')
    .option('--to <date>', 'costs billed before this ISO date or time')
    .option('--json', 'print the raw API answer')
    .action((o) => run(() => cmd.cost(o))());

  const budget = createBudgetCommands(client, io);
  program
    .command('budget [action] [usd]')
    .description('monthly budgets: `budget` shows them with this month\'s spend, `budget set USD [--tenant T]`, `budget clear [--tenant T]` (admin keys); the provisioner applies a change on its next pass')
    .option('--tenant <tenant>', 'a tenant\'s budget instead of the global one')
    .option('--json', 'print the raw API answer')
    .action((action: string | undefined, usdArg: string | undefined, o) => run(() => budget.dispatch(action, usdArg, o))());

  const keyCmd = createKeyCommands(io, env);
  const keys = program.command('keys').description('API keys in Redis (operator commands: use REDIS_URL and NIGHTSHIFT_PREFIX, not the API)');
  keys
    .command('create <tenant>')
    .description('make a key for a tenant; prints the key once (stored only as its SHA-256 digest)')
    .option('--json', 'print {id, tenant, createdAt, hint, key}')
    .action((tenant: string, o) => run(() => keyCmd.create(tenant, o))());
  keys
    .command('list')
    .description('keys in Redis: id, tenant, first characters, creation time')
    .option('--json', 'print JSON')
    .action((o) => run(() => keyCmd.list(o))());
  keys
    .command('revoke <id>')
    .description('revoke a key by its id; the API refuses it from its next request')
    .action((id: string) => run(() => keyCmd.revoke(id))());

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError || e instanceof ConfigError) {
      io.err(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof ApiError) {
      io.err(`error: ${e.code}: ${e.message}`);
      if (e.code === 'unauthorized' && config) io.err(`hint: the API key came from ${config.keySource}; pass --key or set NIGHTSHIFT_API_KEY`);
      return 1;
    }
    if (e instanceof ConnectionError) {
      io.err(`error: cannot reach ${e.url}: ${e.syscallCode ?? e.message}`);
      io.err(`hint: is the stack running? start it with \`npm start\`, or point --url / NIGHTSHIFT_URL at the API${config ? ` (URL from ${config.urlSource})` : ''}`);
      return 1;
    }
    io.err(`error: ${(e as Error)?.message ?? String(e)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
