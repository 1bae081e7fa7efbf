import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A real pseudo-terminal: a tmux server on its own socket, one session, read with capture-pane. */
export class Tmux {
  private readonly socket = `hms-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(private readonly session = 'tui') {}

  private tmux(...args: string[]) {
    return run('tmux', ['-L', this.socket, ...args]);
  }

  /** Starts `command` in a width x height terminal; the shell prints its exit code and lingers so it can be read. */
  async start(command: string, width = 100, height = 30, env: Record<string, string> = {}): Promise<void> {
    const exports = Object.entries(env)
      .map(([k, v]) => `export ${k}='${v}';`)
      .join(' ');
    await this.tmux('new-session', '-d', '-s', this.session, '-x', String(width), '-y', String(height), `${exports} ${command}; echo "EXIT:$?"; sleep 600`);
  }

  async screen(): Promise<string> {
    return (await this.tmux('capture-pane', '-p', '-t', this.session)).stdout;
  }

  /** Whether the program still holds the alternate screen (a restored terminal does not). */
  async alternateOn(): Promise<boolean> {
    return (await this.tmux('display-message', '-p', '-t', this.session, '#{alternate_on}')).stdout.trim() === '1';
  }

  async keys(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', this.session, ...keys);
  }

  async resize(width: number, height: number): Promise<void> {
    await this.tmux('resize-window', '-t', this.session, '-x', String(width), '-y', String(height));
  }

  async waitFor(what: string | RegExp, timeoutMs = 120_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      last = await this.screen();
      if (typeof what === 'string' ? last.includes(what) : what.test(last)) return last;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`screen never showed ${what}; last screen:\n${last}`);
  }

  async kill(): Promise<void> {
    await this.tmux('kill-server').catch(() => undefined);
  }
}
