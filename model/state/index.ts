/** The FAM state as host data (snapshot.ts) and its versioned, checksummed file (state-file.ts). */
export * from './snapshot';
export * from './state-file';
