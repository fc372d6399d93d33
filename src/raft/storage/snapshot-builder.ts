// How a thread other than the replica's makes the application's state machine: backups (backup.ts) and their
// checks open a copy of the database with it. Images for followers are built without it, as files of the
// application's tables (image-file.ts, image-worker.ts); a replica still builds them off its thread only when its
// application gives a factory (replica.ts), the sign that its state lives entirely in its tables.

export interface StateMachineFactory {
  /** URL of a module exporting `exportName(args): StateMachine`. */
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly args: unknown;
}
