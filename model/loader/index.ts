/**
 * Model files: config.json, safetensors weights and tokenizer.json, read and checked (see model-dir.ts for the
 * directory layout).
 */
export * from './chat-template';
export * from './config';
export * from './errors';
export * from './footprint';
export * from './half';
export * from './inspect';
export * from './model-dir';
export * from './model-files';
export * from './safetensors';
export * from './tokenizer';
export * from './weights';
