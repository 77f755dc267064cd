/**
 * Memory bundles (docs/team-memory.md): one file holding a workspace's memory, made once (on a CI runner) and
 * used on every machine. The format (./format.ts), its verification against the loaded model (./verify.ts),
 * where one comes from (./source.ts) and how its bytes are obtained (./fetch.ts). Node only, no `vscode`.
 */
export * from './format';
export * from './verify';
export * from './source';
export * from './fetch';
export { tokenizerSha256 } from './identity';
