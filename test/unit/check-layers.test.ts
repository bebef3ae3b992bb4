/**
 * The layering check (scripts/check-layers.ts) on small made-up trees: each rule can
 * fail, and a tree whose imports point down passes.
 */
import { describe, expect, it } from 'vitest';
import { checkTree, parseImports, readTree, type Violation } from '../../scripts/check-layers.ts';

const tree = (files: Record<string, string>) => new Map(Object.entries(files));
const rules = (vs: Violation[]) => vs.map((v) => `${v.file}:${v.line} ${v.rule}`).sort();

describe('parseImports', () => {
  it('finds static, dynamic, re-export, require and new URL imports, with their lines, and skips comments and packages', () => {
    const src = [
      "import { a } from './a.ts';",
      "import type {",
      "  B,",
      "} from '../b.ts';",
      "// import { c } from './commented.ts';",
      "/* import('./also-commented.ts') */",
      "export { d } from './d.ts';",
      "const e = await import('./e.ts');",
      "import 'node:fs';",
      "import fastify from 'fastify';",
      "const f = new URL('./thread.mjs', import.meta.url);",
      "const g = require('./g.cjs');",
      "const s = 'import x from \"./in-a-string.ts\"';",
    ].join('\n');
    expect(parseImports(src)).toEqual([
      { line: 1, spec: './a.ts' },
      { line: 4, spec: '../b.ts' },
      { line: 7, spec: './d.ts' },
      { line: 8, spec: './e.ts' },
      { line: 11, spec: './thread.mjs' },
      { line: 12, spec: './g.cjs' },
      { line: 13, spec: './in-a-string.ts' },
    ]);
  });
});

describe('checkTree', () => {
  const cases: Array<{ name: string; files: Record<string, string>; expected: string[] }> = [
    {
      name: 'imports that point down pass',
      files: {
        'services/core/a.ts': "import { b } from './b.ts';",
        'services/core/b.ts': '',
        'services/platform/p.ts': "import { a } from '../core/a.ts';",
        'services/api/app.ts': "import { p } from '../platform/p.ts';\nimport { a } from '../core/a.ts';\nimport { r } from './routes/r.ts';",
        'services/api/routes/r.ts': "import type { S } from '../app.ts';",
        'services/local/stack.ts': "import { buildApp } from '../api/app.ts';",
        'bench/b.ts': "import { x } from '../support/x.ts';",
        'support/x.ts': "import { buildApp } from '../services/api/app.ts';",
      },
      expected: [],
    },
    {
      name: 'core imports platform',
      files: { 'services/core/a.ts': "\nimport { p } from '../platform/p.ts';", 'services/platform/p.ts': '' },
      expected: ['services/core/a.ts:2 against-the-grain'],
    },
    {
      name: 'platform imports a program',
      files: { 'services/platform/p.ts': "import { f } from '../provisioner/fleet.ts';", 'services/provisioner/fleet.ts': '' },
      expected: ['services/platform/p.ts:1 against-the-grain'],
    },
    {
      name: 'a program imports another program',
      files: {
        'services/api/app.ts': "const m = await import('../../workers/trainer/ml/predict.ts');",
        'workers/trainer/ml/predict.ts': '',
        'services/cli/config.ts': "import type { Info } from '../local/stack.ts';",
        'services/local/stack.ts': '',
      },
      expected: ['services/api/app.ts:1 sibling-program', 'services/cli/config.ts:1 sibling-program'],
    },
    {
      name: 'bench or scripts import test',
      files: { 'bench/b.ts': "import { rig } from '../test/support/rig.ts';", 'scripts/s.ts': "import '../test/x.ts';" },
      expected: ['bench/b.ts:1 imports-test', 'scripts/s.ts:1 imports-test'],
    },
    {
      name: 'two folders of one program import each other',
      files: {
        'workers/trainer/fused/model.ts': "import type { L } from '../ml/layers.ts';",
        'workers/trainer/ml/layers.ts': '',
        'workers/trainer/ml/engine.ts': "import { m } from '../fused/model.ts';",
      },
      expected: ['workers/trainer/fused/model.ts:1 folder-cycle'],
    },
    {
      name: 'a file outside every layer',
      files: { 'services/newthing/x.ts': '' },
      expected: ['services/newthing/x.ts:1 unknown-layer'],
    },
    {
      name: 'core reaches a repository file that is in no layer',
      files: { 'services/core/v.ts': "const v = require('../../infra/x.json');" },
      expected: ['services/core/v.ts:1 against-the-grain'],
    },
  ];
  it.each(cases)('$name', ({ files, expected }) => {
    expect(rules(checkTree(tree(files)))).toEqual(expected);
  });

  it('a cycle names every hop with a file and line', () => {
    const [v] = checkTree(tree({
      'workers/trainer/fused/model.ts': "import type { L } from '../ml/layers.ts';",
      'workers/trainer/ml/engine.ts': "\n\nimport { m } from '../fused/model.ts';",
    }));
    expect(v.message).toContain('workers/trainer/fused -> workers/trainer/ml (workers/trainer/fused/model.ts:1)');
    expect(v.message).toContain('workers/trainer/ml -> workers/trainer/fused (workers/trainer/ml/engine.ts:3)');
  });
});

describe('the repository', () => {
  it('has every import pointing down, with no exceptions', () => {
    const files = readTree(new URL('../..', import.meta.url).pathname);
    expect(files.size).toBeGreaterThan(100);
    expect(checkTree(files)).toEqual([]);
  });
});
