// The piscina tasks of file images, off the replica's thread: the default one builds an image (image-file.ts), one
// call, one file; `install` copies one received from a leader into the replica's database (image-install.ts).
// Promises: build resolves with the built file's index, term, path and size, or rejects with why (no file left
// behind); install resolves once its transaction committed, or rejects with why (nothing of it written).
import { buildImageFile, type BuiltImageFile } from './image-file.js';
import { installImageFile, type ImageInstallTask } from './image-install.js';

export interface ImageBuildTask {
  readonly sourcePath: string;
  readonly destinationPath: string;
}

export default function build(task: ImageBuildTask): BuiltImageFile {
  return buildImageFile(task.sourcePath, task.destinationPath);
}

export function install(task: ImageInstallTask): void {
  installImageFile(task);
}
