/** The CloudFormation stack gives workers what the bootstrap uses: a log group they may write to, and the worker image repositories they may pull. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tpl = parse(readFileSync(path.join(ROOT, 'infra/cloudformation/nightshift.yaml'), 'utf8')) as {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  Outputs: Record<string, unknown>;
};
const bootstrap = readFileSync(path.join(ROOT, 'infra/bootstrap/user-data.sh'), 'utf8');

type Statement = { Action: string | string[]; Resource: unknown };
const workerStatements = (): Statement[] =>
  ((tpl.Resources.WorkerRole.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>)[0].PolicyDocument.Statement);
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const grants = (action: string) => workerStatements().filter((s) => actions(s).includes(action));

describe('infra/cloudformation/nightshift.yaml', () => {
  it('creates the worker log group and lets the worker role write its stream', () => {
    expect(tpl.Resources.WorkerLogGroup.Type).toBe('AWS::Logs::LogGroup');
    for (const a of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      const g = grants(a);
      expect(g.length, a).toBe(1);
      expect(JSON.stringify(g[0].Resource)).toContain('WorkerLogGroup');
      // a log group's Arn attribute ends in ':*': a stream ARN appended to it would match nothing
      expect(JSON.stringify(g[0].Resource)).not.toMatch(/WorkerLogGroup\.Arn\}:/);
      expect(JSON.stringify(g[0].Resource)).toContain(':log-group:${WorkerLogGroup}:log-stream:*');
    }
    expect(bootstrap).toContain('--log-driver awslogs');
  });

  it('creates the worker image repositories and lets the worker role pull from them only', () => {
    expect(tpl.Resources.WorkerGpuRepository.Type).toBe('AWS::ECR::Repository');
    expect(tpl.Resources.WorkerCpuRepository.Type).toBe('AWS::ECR::Repository');
    expect(grants('ecr:GetAuthorizationToken')).toHaveLength(1);
    const pull = grants('ecr:BatchGetImage');
    expect(pull).toHaveLength(1);
    expect(JSON.stringify(pull[0].Resource)).not.toContain('"*"');
    expect(JSON.stringify(pull[0].Resource)).toContain('WorkerGpuRepository');
    expect(bootstrap).toContain('aws ecr get-login-password');
    expect(Object.keys(tpl.Outputs)).toEqual(expect.arrayContaining(['WorkerGpuRepositoryUri', 'WorkerCpuRepositoryUri', 'WorkerLogGroup']));
  });
});
