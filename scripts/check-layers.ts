/**
 * The layering check (`npm run check:layers`, part of `npm test`): every relative import
 * in services/, workers/, support/, bench/ and scripts/ must point down the layers in
 * LAYERS, and folders must not import each other in a cycle. Prints each violation as
 * `file:line  rule: message` and exits 1 when there is any. docs/architecture.md
 * explains the layers.
 *
 * An import is any `import`/`export ... from`, `import(...)`, `require(...)` or
 * `new URL(..., import.meta.url)` (a thread or child entry named by path) whose target
 * starts with `.`; package imports are not checked.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Layer {
  name: string;
  /** path prefix (from the repository root) of the layer's files */
  prefix: string;
  /** layers this one may import (itself included when listed) */
  mayImport: readonly string[] | 'all but test';
  what: string;
}

/** Who may import whom. First matching prefix wins. */
export const LAYERS: readonly Layer[] = [
  { name: 'core', prefix: 'services/core/', mayImport: ['core'], what: 'pure rules, schemas, vocabularies' },
  { name: 'platform', prefix: 'services/platform/', mayImport: ['core', 'platform'], what: 'I/O adapters and the protocols programs share' },
  // the API serves the dashboard's files (it reads them by path; it runs none of them)
  { name: 'api', prefix: 'services/api/', mayImport: ['core', 'platform', 'api', 'dashboard'], what: 'program: the HTTP API' },
  { name: 'provisioner', prefix: 'services/provisioner/', mayImport: ['core', 'platform', 'provisioner'], what: 'program: the provisioner' },
  // the CLI reads its version from the package manifest
  { name: 'cli', prefix: 'services/cli/', mayImport: ['core', 'platform', 'cli', 'manifest'], what: 'program: the command line client' },
  { name: 'dashboard', prefix: 'services/dashboard/', mayImport: ['dashboard'], what: 'program: the web page (served by the API)' },
  { name: 'trainer', prefix: 'workers/trainer/', mayImport: ['core', 'platform', 'trainer'], what: 'program: the training worker' },
  // the one composition root: `npm start` runs the API and the provisioner in one process
  { name: 'local', prefix: 'services/local/', mayImport: ['core', 'platform', 'local', 'api', 'provisioner', 'cli'], what: 'composition root: the local stack' },
  { name: 'support', prefix: 'support/', mayImport: 'all but test', what: 'emulators and rigs shared by tests and benchmarks' },
  { name: 'bench', prefix: 'bench/', mayImport: 'all but test', what: 'benchmarks' },
  { name: 'scripts', prefix: 'scripts/', mayImport: 'all but test', what: 'release and maintenance scripts' },
  { name: 'manifest', prefix: 'package.json', mayImport: [], what: 'the package manifest' },
  { name: 'test', prefix: 'test/', mayImport: 'all but test', what: 'tests (not checked)' },
];

/** Folders whose files are checked. */
export const CHECKED_ROOTS = ['services', 'workers', 'support', 'bench', 'scripts'];
const SOURCE = /\.(ts|mts|mjs|js)$/;

export interface ImportRef {
  line: number;
  spec: string;
}

export interface Violation {
  file: string;
  line: number;
  rule: 'unknown-layer' | 'against-the-grain' | 'sibling-program' | 'imports-test' | 'folder-cycle';
  message: string;
}

/** Blank out comments (keeping newlines, so line numbers stay right) and leave strings alone. */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && n === '*') {
      i += 2;
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) out += src[i++] === '\n' ? '\n' : '';
      i += 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const q = c;
      out += src[i++];
      while (i < src.length && src[i] !== q) {
        if (src[i] === '\\') out += src[i++];
        out += src[i++];
      }
      out += src[i++] ?? '';
    } else {
      out += src[i++];
    }
  }
  return out;
}

const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1/g,
  /\bimport\s*(['"])([^'"]+)\1/g,
  /\bimport\s*\(\s*(['"])([^'"]+)\1/g,
  /\brequire\s*\(\s*(['"])([^'"]+)\1/g,
  /\bnew\s+URL\s*\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url/g,
];

/** The relative imports of one source file, with their lines. */
export function parseImports(src: string): ImportRef[] {
  const code = stripComments(src);
  const lineAt = (index: number): number => code.slice(0, index).split('\n').length;
  const seen = new Set<string>();
  const out: ImportRef[] = [];
  for (const re of IMPORT_PATTERNS) {
    for (const m of code.matchAll(re)) {
      const spec = m[2];
      if (!spec.startsWith('.')) continue;
      const line = lineAt(m.index! + m[0].lastIndexOf(spec));
      const key = `${line}:${spec}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ line, spec });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

export function layerOf(file: string, layers: readonly Layer[] = LAYERS): Layer | undefined {
  return layers.find((l) => file.startsWith(l.prefix));
}

const mayImport = (from: Layer, to: Layer): boolean =>
  from.mayImport === 'all but test' ? to.name !== 'test' : from.mayImport.includes(to.name);

/** The child of the lowest common ancestor folder on each side, or undefined when one folder contains the other. */
function siblingPair(fromDir: string, toDir: string): [string, string] | undefined {
  const a = fromDir.split('/');
  const b = toDir.split('/');
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  if (k === a.length || k === b.length) return undefined;
  return [a.slice(0, k + 1).join('/'), b.slice(0, k + 1).join('/')];
}

interface Edge {
  file: string;
  line: number;
}

/** Cycles among sibling folders (an import is lifted to the two folders just below the importer's and target's common ancestor). */
function folderCycles(edges: Map<string, Map<string, Edge>>): Violation[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) sccs.push(comp.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return sccs.map((comp) => {
    const inComp = new Set(comp);
    const hops = comp.flatMap((a) => [...(edges.get(a) ?? [])].filter(([b]) => inComp.has(b)).map(([b, e]) => `${a} -> ${b} (${e.file}:${e.line})`));
    const first = edges.get(comp[0])!;
    const e = [...first].find(([b]) => inComp.has(b))![1];
    return { file: e.file, line: e.line, rule: 'folder-cycle' as const, message: `folders import each other in a cycle: ${hops.join('; ')}` };
  });
}

/** Check a tree given as file path (from the repository root) -> source text. */
export function checkTree(files: ReadonlyMap<string, string>, layers: readonly Layer[] = LAYERS): Violation[] {
  const out: Violation[] = [];
  const folderEdges = new Map<string, Map<string, Edge>>();
  for (const [file, src] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const from = layerOf(file, layers);
    if (!from) {
      out.push({ file, line: 1, rule: 'unknown-layer', message: `${file} is in no layer: add its folder to the layer table in scripts/check-layers.ts` });
      continue;
    }
    for (const { line, spec } of parseImports(src)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const to = layerOf(target, layers);
      const where = { file, line };
      if (to?.name === 'test' && from.name !== 'test') {
        out.push({ ...where, rule: 'imports-test', message: `${from.name} imports ${target}: tests may use ${from.name}, not the other way (shared rigs live in support/)` });
      } else if (!to) {
        out.push({ ...where, rule: 'against-the-grain', message: `${from.name} imports ${target}, which is in no layer` });
      } else if (!mayImport(from, to)) {
        const sibling = from.name !== 'core' && from.name !== 'platform' && to.name !== 'core' && to.name !== 'platform';
        out.push({
          ...where,
          rule: sibling ? 'sibling-program' : 'against-the-grain',
          message: `${from.name} (${from.what}) imports ${to.name} (${target}); ${from.name} may import ${from.mayImport === 'all but test' ? 'anything but test' : from.mayImport.join(', ')}`,
        });
      }
      const pair = siblingPair(path.posix.dirname(file), path.posix.dirname(target));
      if (pair) {
        const m = folderEdges.get(pair[0]) ?? new Map<string, Edge>();
        if (!m.has(pair[1])) m.set(pair[1], where);
        folderEdges.set(pair[0], m);
      }
    }
  }
  return [...out, ...folderCycles(folderEdges)];
}

/** The checked files of the repository at `root`. */
export function readTree(root: string, roots: readonly string[] = CHECKED_ROOTS): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    for (const name of readdirSync(abs)) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const r = `${rel}/${name}`;
      if (statSync(path.join(root, r)).isDirectory()) walk(r);
      else if (SOURCE.test(name)) files.set(r, readFileSync(path.join(root, r), 'utf8'));
    }
  };
  for (const r of roots) walk(r);
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const files = readTree(root);
  const violations = checkTree(files);
  for (const v of violations) console.error(`${v.file}:${v.line}  ${v.rule}: ${v.message}`);
  if (violations.length > 0) {
    console.error(`\nlayering check: ${violations.length} violation(s); the layers are described in docs/architecture.md`);
    process.exit(1);
  }
  console.log(`layering check: ${files.size} files, every import points down`);
}
