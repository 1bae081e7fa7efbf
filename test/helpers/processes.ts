import { readdir, readFile } from 'node:fs/promises';

export interface Proc {
  pid: number;
  ppid: number;
  /** Z: exited, not yet reaped (an orphan's new parent may be slow to, or never, reap it). */
  state: string;
  cmdline: string;
}

/** Every process on the machine, from /proc. */
export async function processes(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // The command name in parentheses may hold spaces: the fields after its last ')' are fixed.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      out.push({ pid: Number(name), ppid: Number(ppid), state, cmdline });
    } catch {
      // gone while listed
    }
  }
  return out;
}

/** The node process (not the shell that started it) whose command line holds `text`. */
export const nodeProcess = (all: Proc[], text: string): Proc | undefined => all.find((p) => p.cmdline.startsWith(process.execPath) && p.cmdline.includes(text));

/** `root` and its descendants that are still running. */
export function tree(all: Proc[], root: number): Proc[] {
  const found = all.filter((p) => p.pid === root);
  for (let i = 0; i < found.length; i++) found.push(...all.filter((p) => p.ppid === found[i].pid));
  return found.filter((p) => p.state !== 'Z');
}

/** SIGKILLs each process still there. */
export function killAll(procs: Proc[]): void {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
