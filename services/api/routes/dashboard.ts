/**
 * The web dashboard: one HTML page, one ES module and a style sheet from
 * services/dashboard/, served without authentication. The page holds no data and
 * no keys: it calls the /v1 API from the browser with the key the user enters.
 * A strict Content-Security-Policy keeps the page to its own origin: no inline
 * scripts, no third-party fonts, scripts or connections.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { TERMINAL } from '../../core/job.ts';
import { HIGHER_IS_BETTER, METRIC_TABLE } from '../../core/vocabulary.ts';

const DIR = new URL('../../dashboard/', import.meta.url);

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** The files the page is made of; nothing else under services/dashboard/ is served. */
export const DASHBOARD_FILES = ['index.html', 'app.js', 'format.js', 'detail.js', 'charts.js', 'batches.js', 'live.js', 'costs.js', 'style.css', 'favicon.svg'] as const;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The page's vocabulary, written from core when the API starts (served as
 * /dashboard/vocabulary.js; no file on disk): the job statuses after which nothing
 * runs, and every accepted spelling of the metrics where a larger score is better.
 */
export function dashboardVocabulary(): string {
  const higher = Object.entries(METRIC_TABLE).filter(([, c]) => HIGHER_IS_BETTER.has(c)).map(([spelling]) => spelling);
  return [
    '// Written by the API from services/core (api/routes/dashboard.ts) when it starts.',
    `export const TERMINAL = new Set(${JSON.stringify([...TERMINAL])});`,
    `export const HIGHER_IS_BETTER = new Set(${JSON.stringify(higher)});`,
    '',
  ].join('\n');
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

function load(name: string): Asset {
  const body = readFileSync(new URL(name, DIR));
  const ext = name.slice(name.lastIndexOf('.') + 1);
  return asset(body, TYPES[ext] ?? 'application/octet-stream');
}

export const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const assets = new Map<string, Asset>(DASHBOARD_FILES.map((n) => [n, load(n)]));
  assets.set('vocabulary.js', asset(Buffer.from(dashboardVocabulary()), TYPES.js));

  const send = (asset: Asset, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag)
      .type(asset.type);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };

  const page = async (req: FastifyRequest, reply: FastifyReply) => send(assets.get('index.html')!, req, reply);
  app.get('/', { schema: { hide: true } }, page);
  app.get('/dashboard', { schema: { hide: true } }, page);
  app.get('/dashboard/', { schema: { hide: true } }, page);

  app.get<{ Params: { file: string } }>('/dashboard/:file', { schema: { hide: true } }, async (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset || req.params.file === 'index.html') {
      return reply.code(404).send({ error: { code: 'not_found', message: `no dashboard file ${JSON.stringify(req.params.file)}` } });
    }
    return send(asset, req, reply);
  });
};
