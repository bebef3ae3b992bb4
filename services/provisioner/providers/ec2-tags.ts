/** Tags every nightshift instance carries: what the provisioner finds it by and adopts it with. */
export const TAG = {
  cluster: 'nightshift:cluster',
  resourceClass: 'nightshift:class',
  launch: 'nightshift:launch',
  role: 'nightshift',
} as const;
