#!/usr/bin/env node
// Launcher of the `nightshift` CLI: loads tsx's ESM hooks, then runs services/cli/main.ts
// in this process (so stdio and the exit code are the CLI's own).
import { register } from 'tsx/esm/api';

register();
await import(new URL('../services/cli/main.ts', import.meta.url).href);
