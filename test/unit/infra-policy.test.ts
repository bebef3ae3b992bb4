/**
 * Infrastructure as code, checked against the code. For each principal (the control
 * plane: API + provisioner; the worker instance role), the AWS actions its code can
 * send are read from the source (the SDK commands in the files its entry points
 * import, the artifact store methods they call, the `aws` CLI calls of the bootstrap)
 * and compared with what infra/ grants, both in the CloudFormation template and in
 * the plain IAM documents: an action the code sends and the policy lacks fails, and
 * so does a grant the code never uses. The bucket must refuse plain-HTTP access and
 * expire checkpoints and old releases.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { keys } from '../../services/core/keys.ts';
import { LIMITS } from '../../services/core/spec.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(path.join(ROOT, p), 'utf8');

/** Files reachable from the entry points through relative static and dynamic imports. */
function reachable(entries: string[]): string[] {
  const seen = new Set<string>();
  const stack = [...entries];
  while (stack.length) {
    const rel = stack.pop()!;
    if (seen.has(rel)) continue;
    seen.add(rel);
    const src = read(rel);
    for (const m of src.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+\.ts)'/g)) {
      const next = path.relative(ROOT, path.resolve(ROOT, path.dirname(rel), m[1]));
      if (existsSync(path.join(ROOT, next))) stack.push(next);
    }
  }
  return [...seen].sort();
}

const CLIENT_PREFIX: Record<string, string> = {
  's3': 's3', 'ec2': 'ec2', 'ssm': 'ssm', 'pricing': 'pricing', 'cloudwatch-logs': 'logs', 'cloudwatch': 'cloudwatch', 'sts': 'sts', 'iam': 'iam', 'service-quotas': 'servicequotas',
};

/** Commands whose IAM action is not "<service>:<CommandName>". */
const ACTION_OF: Record<string, string[]> = {
  's3:HeadObject': ['s3:GetObject'],
  's3:HeadBucket': ['s3:ListBucket'],
  's3:ListObjectsV2': ['s3:ListBucket'],
  's3:ListObjects': ['s3:ListBucket'],
  's3:DeleteObjects': ['s3:DeleteObject'],
  's3:CreateMultipartUpload': ['s3:PutObject'],
  's3:UploadPart': ['s3:PutObject'],
  's3:CompleteMultipartUpload': ['s3:PutObject'],
  's3:CopyObject': ['s3:GetObject', 's3:PutObject'],
};

/** "<service>:<Command>" for every `new XCommand(` in a file, the service taken from the client package it imports X from. */
function sdkCalls(src: string): string[] {
  const serviceOf = new Map<string, string>();
  for (const m of src.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
    for (const name of m[1].split(',').map((s) => s.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0])) {
      if (name.endsWith('Command')) serviceOf.set(name, CLIENT_PREFIX[m[2]] ?? m[2]);
    }
  }
  const out: string[] = [];
  for (const m of src.matchAll(/new\s+([A-Z][A-Za-z0-9]*Command)\s*\(/g)) {
    const svc = serviceOf.get(m[1]);
    if (!svc) throw new Error(`${m[1]} is not imported from an @aws-sdk client: teach this check where it comes from`);
    out.push(`${svc}:${m[1].replace(/Command$/, '')}`);
  }
  // @aws-sdk/lib-storage Upload: multipart PutObject, aborted on failure
  if (/from\s*'@aws-sdk\/lib-storage'/.test(src) && /new\s+Upload\s*\(/.test(src)) out.push('s3:PutObject', 's3:AbortMultipartUpload');
  return out;
}

const toActions = (calls: string[]): string[] => calls.flatMap((c) => ACTION_OF[c] ?? [c]);

/**
 * The artifact store (services/platform/artifacts.ts) wraps S3 behind methods: which
 * commands each method sends, read from the object literal it returns.
 */
function artifactMethods(): Map<string, string[]> {
  const src = read('services/platform/artifacts.ts');
  const imports = src.slice(0, src.indexOf('\nexport '));
  const helperCalls = new Map<string, string[]>();
  for (const m of src.matchAll(/\n  (?:async )?function (\w+)\([\s\S]*?\n  }\n/g)) helperCalls.set(m[1], sdkCalls(imports + m[0]));
  const body = src.slice(src.indexOf('  return {\n    bucket'));
  const out = new Map<string, string[]>();
  const chunks = body.split(/\n(?= {4}(?:async )?\w+(?:<[^>]*>)?(?:\(|:))/);
  for (const chunk of chunks) {
    const name = /^ {4}(?:async )?(\w+)/.exec(chunk)?.[1];
    if (!name || name === 'bucket' || name === 'client') continue;
    const calls = sdkCalls(imports + chunk);
    for (const [helper, hc] of helperCalls) if (new RegExp(`\\b${helper}\\(`).test(chunk)) calls.push(...hc);
    if (/\bthis\.list\(/.test(chunk)) calls.push('s3:ListObjectsV2');
    out.set(name, calls);
  }
  return out;
}

/** Actions of the `aws` CLI calls in a shell script. */
function cliActions(script: string): string[] {
  const out: string[] = [];
  for (const m of script.matchAll(/\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)([^\n]*)/g)) {
    const [, svc, cmd, rest] = m;
    if (svc === 's3' && cmd === 'cp') {
      const [src, dst] = rest.trim().split(/\s+/);
      if (/^"?\$?[^"]*"?$/.test(src) && !/^"?s3:/.test(dst ?? '')) out.push('s3:GetObject');
      else out.push('s3:PutObject');
      continue;
    }
    if (svc === 'ecr' && cmd === 'get-login-password') {
      out.push('ecr:GetAuthorizationToken');
      continue;
    }
    const action = cmd.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
    out.push(`${svc}:${action}`);
    if (svc === 'ssm' && /--with-decryption/.test(rest)) out.push('kms:Decrypt');
  }
  // the Docker daemon's own calls: pulling from ECR, and the awslogs log driver
  if (/\bdocker login\b[^\n]*\.dkr\.ecr\.|aws ecr get-login-password[^\n]*\|\s*docker login/.test(script) && /\bdocker (?:pull|run)\b/.test(script)) {
    out.push('ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability');
  }
  if (/--log-driver awslogs/.test(script)) {
    out.push('logs:CreateLogStream', 'logs:PutLogEvents');
    if (/awslogs-create-group=true/.test(script)) out.push('logs:CreateLogGroup');
  }
  return out;
}

/** Everything a principal's code sends: SDK commands in its files, artifact store methods it calls, actions RunInstances implies. */
function codeActions(entries: string[], scripts: string[] = []): Set<string> {
  const files = reachable(entries);
  const methods = artifactMethods();
  const actions = new Set<string>();
  for (const f of files) {
    const src = read(f);
    if (f === 'services/platform/artifacts.ts') continue; // counted by the methods the others call
    for (const a of toActions(sdkCalls(src))) actions.add(a);
    if (files.includes('services/platform/artifacts.ts')) {
      for (const [name, calls] of methods) {
        if (!new RegExp(`\\.${name}(?:<[^>]*>)?\\(`).test(src)) continue;
        if (name === 'ensureBucket') {
          // CreateBucket is sent only against an emulator endpoint: every call must say so on its line
          for (const line of src.split('\n').filter((l) => /\.ensureBucket\(/.test(l))) {
            if (!/if \(config\.s3\.endpoint\)/.test(line)) throw new Error(`${f}: ensureBucket() outside "if (config.s3.endpoint)" would need s3:CreateBucket`);
          }
          actions.add('s3:ListBucket');
          continue;
        }
        for (const a of toActions(calls)) actions.add(a);
      }
    }
    if (/new\s+RunInstancesCommand/.test(src)) {
      // RunInstances also authorizes the tags it sets, the role it passes and (for spot) the spot service-linked role
      if (/TagSpecifications/.test(src)) actions.add('ec2:CreateTags');
      if (/IamInstanceProfile/.test(src)) actions.add('iam:PassRole');
      if (/InstanceMarketOptions/.test(src)) actions.add('iam:CreateServiceLinkedRole');
    }
  }
  for (const s of scripts) for (const a of cliActions(read(s))) actions.add(a);
  return actions;
}

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource?: unknown; Condition?: Record<string, Record<string, unknown>>; Principal?: unknown };

const allowed = (statements: Statement[]): Set<string> =>
  new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));

// The template uses long-form intrinsics only, so it parses as plain YAML.
const template = parseYaml(read('infra/cloudformation/nightshift.yaml')) as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
const resources = template.Resources;
const iamDoc = (p: string): Statement[] => (JSON.parse(read(p)) as { Statement: Statement[] }).Statement;

const PRINCIPALS = {
  // what runs with ProvisionerPolicy: the API and the provisioner (together in `npm start`, or apart)
  controlPlane: {
    entries: ['services/api/main.ts', 'services/provisioner/main.ts'],
    scripts: [] as string[],
    template: (): Statement[] => resources.ProvisionerPolicy.Properties.PolicyDocument.Statement,
    document: 'infra/iam/provisioner-policy.json',
  },
  // what runs on a worker instance with WorkerRole: the bootstrap script and the worker
  worker: {
    entries: ['workers/trainer/main.ts', 'workers/trainer/runtime/child-main.ts'],
    scripts: ['infra/bootstrap/user-data.sh'],
    template: (): Statement[] => resources.WorkerRole.Properties.Policies.flatMap((p: { PolicyDocument: { Statement: Statement[] } }) => p.PolicyDocument.Statement),
    document: 'infra/iam/worker-policy.json',
  },
} as const;

describe('infra/ grants exactly what the code sends', () => {
  for (const [name, p] of Object.entries(PRINCIPALS)) {
    const code = codeActions([...p.entries], [...p.scripts]);

    it(`${name}: the code sends AWS actions at all (the scan works)`, () => {
      expect(code.size).toBeGreaterThan(2);
    });

    for (const [where, statements] of [['CloudFormation', p.template()], [p.document, iamDoc(p.document)]] as const) {
      it(`${name}: every action the code sends is allowed by ${where}`, () => {
        const grants = allowed(statements);
        expect([...code].filter((a) => !grants.has(a)).sort()).toEqual([]);
      });
      it(`${name}: ${where} allows nothing the code never sends`, () => {
        const grants = allowed(statements);
        expect([...grants].filter((a) => !code.has(a)).sort()).toEqual([]);
      });
    }
  }

  it('the control plane creates no bucket (infra/ does) and the worker never launches or terminates instances', () => {
    expect(codeActions([...PRINCIPALS.controlPlane.entries]).has('s3:CreateBucket')).toBe(false);
    const worker = codeActions([...PRINCIPALS.worker.entries], [...PRINCIPALS.worker.scripts]);
    expect([...worker].filter((a) => a.startsWith('ec2:') || a.startsWith('iam:'))).toEqual([]);
  });
});

describe('the artifact bucket', () => {
  const bucket = resources.ArtifactBucket.Properties;

  it('has a bucket policy that denies every request not made over TLS', () => {
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::S3::BucketPolicy');
    expect(policy, 'an AWS::S3::BucketPolicy resource').toBeDefined();
    expect(policy!.Properties.Bucket).toEqual({ Ref: 'ArtifactBucket' });
    const deny = (policy!.Properties.PolicyDocument.Statement as Statement[]).find(
      (s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === false,
    );
    expect(deny, 'a Deny statement on aws:SecureTransport = false').toBeDefined();
    expect(deny!.Principal).toBe('*');
    expect(deny!.Action).toBe('s3:*');
    const res = JSON.stringify(deny!.Resource);
    expect(res).toContain('${ArtifactBucket}');
    expect(res).toContain('${ArtifactBucket}/*');
  });

  it('expires checkpoints and old releases, and aborts stale multipart uploads', () => {
    const rules = bucket.LifecycleConfiguration.Rules as Array<Record<string, any>>;
    const forPrefix = (prefix: string) => rules.find((r) => r.Status === 'Enabled' && (r.Prefix === prefix || r.Filter?.Prefix === prefix || r.Filter?.And?.Prefix === prefix));
    const checkpoints = forPrefix(keys.checkpointPrefix('x').split('/')[0] + '/');
    expect(checkpoints, 'a lifecycle rule for checkpoints/').toBeDefined();
    // longer than any job may run (timeoutMinutes), so no running unit loses its checkpoint
    expect(checkpoints!.ExpirationInDays * 24 * 60).toBeGreaterThan(LIMITS.timeoutMinutes);
    const releases = forPrefix('releases/nightshift-');
    expect(releases, 'a lifecycle rule for the per-commit release copies').toBeDefined();
    expect(releases!.ExpirationInDays).toBeGreaterThan(0);
    // the release instances install is never expired
    expect(rules.filter((r) => r.ExpirationInDays && 'releases/nightshift.tgz'.startsWith(r.Prefix ?? r.Filter?.Prefix ?? ''))).toEqual([]);
    expect(rules.some((r) => r.Status === 'Enabled' && r.AbortIncompleteMultipartUpload?.DaysAfterInitiation > 0)).toBe(true);
  });

  it('keeps blocking public access and encrypting at rest', () => {
    expect(bucket.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBeDefined();
  });
});
