// The piscina task that builds a file image off the replica's thread (image-file.ts): one call, one file.
// Promises: resolves with the built file's index, term, path and size, or rejects with why (no file left behind).
import { buildImageFile, type BuiltImageFile } from './image-file.js';

export interface ImageBuildTask {
  readonly sourcePath: string;
  readonly destinationPath: string;
}

export default function build(task: ImageBuildTask): BuiltImageFile {
  return buildImageFile(task.sourcePath, task.destinationPath);
}
