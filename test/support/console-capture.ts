// What a command's main() prints, for tests that call it in this process.

/** Runs `body` with console.log and console.error writing into the returned lines; both are restored after. */
export async function printedBy(body: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (line: string) => printed.push(line);
  console.error = (line: string) => printed.push(line);
  try {
    await body();
  } finally {
    console.log = log;
    console.error = error;
  }
  return printed;
}
