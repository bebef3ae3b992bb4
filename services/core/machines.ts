/**
 * What nightshift knows about EC2 machines, as data and pure functions: which
 * instance families carry a GPU (and which one), which machine image and bootstrap
 * variant each family needs, and how many training units one instance runs at once.
 *
 * Machine images. The AWS Deep Learning AMIs publish their latest id as a public SSM
 * parameter named `/aws/service/deeplearning/ami/<arch>/<ami_type>/latest/ami-id`,
 * where ami_type is the AMI's name without "deep", "learning" and "ami"
 * (https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html).
 *
 * - NVIDIA's open kernel modules support Turing and newer GPUs only; the V100 of
 *   p3/p3dn needs the proprietary driver. The "Deep Learning Base Proprietary Nvidia
 *   Driver AMI (Amazon Linux 2)" release notes list G3, P3, P3dn and Inf1 as its
 *   supported instances, with the NVIDIA container toolkit installed
 *   (https://docs.aws.amazon.com/dlami/latest/devguide/aws-deep-learning-ami-base-aml2-2026-01-02.html).
 *   It is Amazon Linux 2: yum, user ec2-user.
 * - The "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)" carries the
 *   open-source driver for G4dn, G5, G6, P4d, P5 and newer (the x86_64 Base OSS
 *   release notes list G4dn, G5, G6, Gr6, G6e, P4d, P4de, P5, P5e, P5en, not P3),
 *   with docker and the NVIDIA container toolkit. Ubuntu: apt, user ubuntu.
 * - CPU instances boot Amazon Linux 2023 from its public parameter
 *   `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`
 *   (https://docs.aws.amazon.com/linux/al2023/ug/ec2.html); the bootstrap installs docker.
 *
 * Each image also names a DescribeImages name pattern: the provider falls back to it
 * when the parameter cannot be read (emulators have no public parameters).
 */
import { instanceTypeInfo } from './prices.ts';

export type Accelerator = 'gpu' | 'cpu';
export type BootstrapOs = 'amazon-linux' | 'ubuntu';
export type ImageKey = 'dlami-proprietary-al2' | 'dlami-oss-ubuntu2204' | 'al2023-cpu';

export interface MachineImage {
  key: ImageKey;
  /** public SSM parameter holding the latest AMI id */
  ssmParameter: string;
  /** DescribeImages name filter (owner amazon) when the parameter is unreadable */
  nameFilter: string;
  os: BootstrapOs;
  /** the login user of the image (owns /opt/nightshift) */
  user: string;
  /** the AWS page the mapping comes from */
  source: string;
}

export const IMAGES: Readonly<Record<ImageKey, MachineImage>> = {
  'dlami-proprietary-al2': {
    key: 'dlami-proprietary-al2',
    ssmParameter: '/aws/service/deeplearning/ami/x86_64/base-proprietary-nvidia-driver-amazon-linux-2/latest/ami-id',
    nameFilter: 'Deep Learning Base Proprietary Nvidia Driver AMI (Amazon Linux 2)*',
    os: 'amazon-linux',
    user: 'ec2-user',
    source: 'https://docs.aws.amazon.com/dlami/latest/devguide/aws-deep-learning-ami-base-aml2-2026-01-02.html',
  },
  'dlami-oss-ubuntu2204': {
    key: 'dlami-oss-ubuntu2204',
    ssmParameter: '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id',
    nameFilter: 'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*',
    os: 'ubuntu',
    user: 'ubuntu',
    source: 'https://docs.aws.amazon.com/dlami/latest/devguide/find-dlami-id.html',
  },
  'al2023-cpu': {
    key: 'al2023-cpu',
    ssmParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    nameFilter: 'al2023-ami-2023*-x86_64',
    os: 'amazon-linux',
    user: 'ec2-user',
    source: 'https://docs.aws.amazon.com/linux/al2023/ug/ec2.html',
  },
};

export interface MachineFamily {
  accelerator: Accelerator;
  image: ImageKey;
  /** GPU model, for messages (the worker reports the name nvidia-smi gives) */
  gpu?: string;
}

/** Instance families nightshift launches. Anything else is not allowed (NIGHTSHIFT_EC2_ALLOWED_TYPES narrows further). */
export const FAMILIES: Readonly<Record<string, MachineFamily>> = {
  p3: { accelerator: 'gpu', image: 'dlami-proprietary-al2', gpu: 'NVIDIA V100' },
  p3dn: { accelerator: 'gpu', image: 'dlami-proprietary-al2', gpu: 'NVIDIA V100' },
  g4dn: { accelerator: 'gpu', image: 'dlami-oss-ubuntu2204', gpu: 'NVIDIA T4' },
  g5: { accelerator: 'gpu', image: 'dlami-oss-ubuntu2204', gpu: 'NVIDIA A10G' },
  g6: { accelerator: 'gpu', image: 'dlami-oss-ubuntu2204', gpu: 'NVIDIA L4' },
  p4d: { accelerator: 'gpu', image: 'dlami-oss-ubuntu2204', gpu: 'NVIDIA A100' },
  p5: { accelerator: 'gpu', image: 'dlami-oss-ubuntu2204', gpu: 'NVIDIA H100' },
  c7i: { accelerator: 'cpu', image: 'al2023-cpu' },
  c6i: { accelerator: 'cpu', image: 'al2023-cpu' },
  m6i: { accelerator: 'cpu', image: 'al2023-cpu' },
  c5: { accelerator: 'cpu', image: 'al2023-cpu' },
  m5: { accelerator: 'cpu', image: 'al2023-cpu' },
};

export const familyOf = (type: string): string => type.slice(0, Math.max(0, type.indexOf('.')));

export function machineFamily(type: string): MachineFamily | undefined {
  return FAMILIES[familyOf(type)];
}

export function imageFor(type: string): MachineImage | undefined {
  const f = machineFamily(type);
  return f ? IMAGES[f.image] : undefined;
}

export const acceleratorOf = (type: string): Accelerator | undefined => machineFamily(type)?.accelerator;

/** vCPUs per size suffix on the x86 families above (EC2 sizes: large = 2 vCPUs, xlarge = 4, Nxlarge = 4N). */
export function vcpusOf(type: string): number | undefined {
  const size = type.slice(type.indexOf('.') + 1);
  if (size === 'large') return 2;
  if (size === 'xlarge') return 4;
  const m = /^(\d+)xlarge$/.exec(size);
  return m ? 4 * Number(m[1]) : undefined;
}

/**
 * Training units one instance runs at once. GPU instances: one (the unit owns the
 * GPU; tfjs-node-gpu uses one device). CPU instances: one per physical core (the
 * fused engine is single-threaded; these families run two vCPUs per core).
 */
export function slotsOf(type: string): number {
  if (acceleratorOf(type) !== 'cpu') return 1;
  return Math.max(1, Math.floor((instanceTypeInfo(type)?.vcpus ?? vcpusOf(type) ?? 2) / 2));
}

/** CPU types launched for CPU classes when the operator names none (spot first unless NIGHTSHIFT_EC2_CPU_SPOT or NIGHTSHIFT_EC2_SPOT says otherwise). */
export const DEFAULT_CPU_TYPES = ['c7i.2xlarge', 'c6i.2xlarge', 'm6i.2xlarge'];

/** The instance types a resource class launches, in preference order: its own, else the operator's list for its accelerator. */
export function classTypes(needs: { accelerator: 'gpu' | 'cpu' | 'any'; instanceTypes?: string[] }, fleet: { instanceTypes: string[]; cpuInstanceTypes: string[] }): string[] {
  if (needs.instanceTypes?.length) return needs.instanceTypes;
  return needs.accelerator === 'cpu' ? fleet.cpuInstanceTypes : fleet.instanceTypes;
}
