/**
 * Reads harbor's configuration: defaults, then `harbor.json` in the working directory, then environment
 * variables (HARBOR_PORT, HARBOR_DATA_DIR, HARBOR_LEASE), each overriding the one before.
 */
import { existsSync, readFileSync } from 'node:fs';

export interface HarborConfig {
  port: number;
  dataDir: string;
  /** How long a worker holds a job before it goes back to the queue, in milliseconds. */
  leaseMs: number;
  /** Attempts before a job is moved to the dead-letter list. */
  maxAttempts: number;
  /** First retry delay; doubled on every attempt. */
  backoffBaseMs: number;
}

const DEFAULTS: HarborConfig = {
  port: 8080,
  dataDir: './data',
  leaseMs: 30_000,
  maxAttempts: 5,
  backoffBaseMs: 500,
};

/**
 * Parses a duration such as "250ms", "30s" or "5m" into milliseconds. A bare number is milliseconds.
 * Throws on anything else, naming the text it could not read.
 */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: "${text}" (use e.g. 250ms, 30s, 5m)`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  return Math.round(unit === 'm' ? value * 60_000 : unit === 's' ? value * 1000 : value);
}

/** Loads the configuration from defaults, harbor.json and the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, file = 'harbor.json'): HarborConfig {
  const fromFile: Partial<HarborConfig> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const config: HarborConfig = { ...DEFAULTS, ...fromFile };
  if (env.HARBOR_PORT) config.port = Number.parseInt(env.HARBOR_PORT, 10);
  if (env.HARBOR_DATA_DIR) config.dataDir = env.HARBOR_DATA_DIR;
  if (env.HARBOR_LEASE) config.leaseMs = parseDuration(env.HARBOR_LEASE);
  if (!Number.isInteger(config.port) || config.port <= 0 || config.port > 65535) {
    throw new Error(`HARBOR_PORT must be a port number, got ${env.HARBOR_PORT ?? config.port}`);
  }
  return config;
}
