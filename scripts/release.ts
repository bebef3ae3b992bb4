/**
 * `npm run release`: packs the committed tree (git archive HEAD, the lock file
 * included) and uploads it to s3://<NIGHTSHIFT_S3_BUCKET>/releases/nightshift.tgz,
 * plus a copy named after the commit: the source of what runs, next to its
 * artifacts. EC2 workers do not install it: they run the worker container image
 * (NIGHTSHIFT_WORKER_IMAGE, built from the same tree with docker/). Uses the same
 * S3 settings as everything else (AWS_ENDPOINT_URL, ...).
 */
import { execFileSync } from 'node:child_process';
import { loadConfig, ConfigError } from '../services/core/config.ts';
import { s3ArtifactStore } from '../services/platform/artifacts.ts';

try {
  const config = loadConfig();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
  if (dirty) {
    console.error('release: the work tree has uncommitted changes; commit them first (the release is what HEAD holds)');
    process.exit(2);
  }
  const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
  const tgz = execFileSync('git', ['archive', '--format=tar.gz', 'HEAD'], { maxBuffer: 512 * 1024 * 1024 });
  const store = s3ArtifactStore(config.s3);
  await store.ensureBucket();
  await store.put(`releases/nightshift-${sha}.tgz`, tgz, 'application/gzip');
  await store.put('releases/nightshift.tgz', tgz, 'application/gzip');
  console.log(`release ${sha}: ${(tgz.length / 1024).toFixed(0)} KiB -> s3://${config.s3.bucket}/releases/nightshift.tgz (and nightshift-${sha}.tgz)`);
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(`release: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
