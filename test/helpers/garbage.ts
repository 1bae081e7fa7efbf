import { readFile, writeFile } from 'node:fs/promises';

/** Puts `line` after the first line of the file at `path`: garbage in the middle of a file the daemon wrote. */
export async function insertLine(path: string, line: string): Promise<void> {
  const data = (await readFile(path)).toString();
  const cut = data.indexOf('\n') + 1;
  await writeFile(path, data.slice(0, cut) + line + data.slice(cut));
}
