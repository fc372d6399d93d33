// Durable Raft storage on SQLite: the public surface of src/raft/storage (see README.md).
export {
  RaftStorage,
  type AppliedResult,
  type LoadedState,
  type PersistPart,
  type StorageLogger,
  type StorageOptions,
  type StorageStats,
} from './storage.js';
export { StorageFaults } from './faults.js';
export {
  StorageCorruptionError,
  StorageInvariantError,
  StorageWriteError,
  type DiskFaultCode,
} from './errors.js';
export { schemaVersion } from './schema.js';
