/**
 * The embedded S3 server in a process of its own, for rigs whose own event loop must
 * not wait on it (s3rver lists a bucket with synchronous directory walks). Prints one
 * JSON line {endpoint, accessKeyId, secretAccessKey} when it listens; data under the
 * directory given as the first argument; stops on SIGTERM or when its parent goes.
 */
import { startEmbeddedS3 } from '../services/platform/embedded-s3.ts';

const s3 = await startEmbeddedS3({ directory: process.argv[2]! });
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, ...s3.credentials })}\n`);
const stop = () => void s3.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
