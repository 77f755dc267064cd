/**
 * The FAM state as host data (snapshot.ts) and its versioned, sealed file (state-file.ts); the opening and seal
 * (container.ts), disk I/O (file-io.ts) and per-user key (user-key.ts) every saved file of the memory shares.
 */
export * from './snapshot';
export * from './state-file';
export { NotRegularFileError, removeStaleTempFiles } from './file-io';
export { userKeyFile } from './user-key';
