/**
 * The AWS emulator for one test file (vitest hooks around support/moto.ts, which
 * benchmarks use too).
 */
import { afterAll, beforeAll } from 'vitest';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { emulatorEc2, startAwsEmulator, type AwsEmulator } from '../../support/moto.ts';

export * from '../../support/moto.ts';

export interface AwsEmulatorHandle {
  readonly endpoint: string;
  /** an EC2 client on the emulator, destroyed after the file's tests */
  readonly ec2: EC2Client;
}

/**
 * One emulator for a test file: started in beforeAll, stopped in afterAll. The handle
 * is filled in by beforeAll, so read its fields inside tests and hooks only.
 */
export function useAwsEmulator(): AwsEmulatorHandle {
  let aws: AwsEmulator | undefined;
  let ec2: EC2Client | undefined;
  beforeAll(async () => {
    aws = await startAwsEmulator();
    ec2 = emulatorEc2(aws.endpoint);
  });
  afterAll(async () => {
    ec2?.destroy();
    await aws?.stop();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the AWS emulator is not started yet: use the handle inside tests and hooks');
    return v;
  };
  return {
    get endpoint() {
      return ready(aws).endpoint;
    },
    get ec2() {
      return ready(ec2);
    },
  };
}
