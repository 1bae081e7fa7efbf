/**
 * `hms tui`: runs the dashboard on the terminal and gives the terminal back as it found it, whether the user
 * quits, the SSH session drops (SIGHUP), something sends SIGTERM, or the dashboard itself fails.
 */
import { createRequire } from 'node:module';
import { createHmsClient, describeError, toWebSocketUrl } from './client.js';
import { colorEnabled } from './color-support.js';

// No static import of react, ink or a component here: see the NODE_ENV note in runTui.
const require = createRequire(import.meta.url);
const reactLoaded = (): boolean => Object.keys(require.cache).some((k) => /[\\/]node_modules[\\/]react[\\/]/.test(k));

export interface RunTuiOptions {
  /** The daemon's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql (ws:// also accepted). */
  url: string;
  /** API token for a daemon with --api-tokens. */
  token?: string;
  /** PEM of a private CA for https/wss. */
  ca?: string | Buffer;
  /** @default process.stdin */
  stdin?: NodeJS.ReadStream;
  /** @default process.stdout */
  stdout?: NodeJS.WriteStream;
  /** @default process.stderr */
  stderr?: NodeJS.WriteStream;
}

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type Signal = keyof typeof SIGNALS;

// The alternate screen keeps the shell's scrollback intact, as k9s and btop do.
const ENTER_ALT_SCREEN = '\u001B[?1049h\u001B[H';
const LEAVE_ALT_SCREEN = '\u001B[?25h\u001B[?1049l';

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/**
 * Resolves with the exit code: 0 on quit, 128 + signal number on a signal, 1 on an internal error, 2 when there
 * is no terminal to draw on or the URL is malformed.
 */
export async function runTui(opts: RunTuiOptions): Promise<number> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;

  if (!stdin.isTTY || !stdout.isTTY) {
    const which = !stdin.isTTY ? 'stdin' : 'stdout';
    stderr.write(
      `hms tui: ${which} is not a terminal. The dashboard is interactive: run it in a terminal, ` +
        'or over SSH with one (ssh -t HOST npx hms tui). For scripts, query GraphQL directly.\n',
    );
    return 2;
  }
  try {
    toWebSocketUrl(opts.url);
  } catch (err) {
    stderr.write(`hms tui: cannot use --url ${JSON.stringify(opts.url)}: ${describeError(err)}\n`);
    return 2;
  }

  // Both are read once, when ink and react load, so they are set around the import and then put back.
  // - CI: Ink then draws nothing until exit. A CI variable inherited into an interactive terminal (a test runner
  //   starting tmux, a CI job with a real pty) must not blank the dashboard.
  // - NODE_ENV: unset selects React's development build, which doubles the frame time (measured with 1,000
  //   services). Only when React is not loaded yet: a production reconciler over an already loaded development
  //   React renders nothing at all.
  const saved = {
    CI: process.env['CI'],
    CONTINUOUS_INTEGRATION: process.env['CONTINUOUS_INTEGRATION'],
    NODE_ENV: process.env['NODE_ENV'],
  };
  delete process.env['CI'];
  delete process.env['CONTINUOUS_INTEGRATION'];
  if (saved.NODE_ENV === undefined && !reactLoaded()) process.env['NODE_ENV'] = 'production';
  const [{ createElement }, { render }, { Dashboard }, { ErrorBoundary }] = await Promise.all([
    import('react'),
    import('ink'),
    import('./Dashboard.js'),
    import('./ErrorBoundary.js'),
  ]);
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }

  // The screen belongs to the dashboard: anything a library prints would tear the frame.
  const savedConsole = CONSOLE_METHODS.map((m) => [m, console[m]] as const);
  for (const m of CONSOLE_METHODS) console[m] = () => {};

  const client = createHmsClient(opts.url, { token: opts.token, ca: opts.ca });
  let settle: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    settle = resolve;
  });
  let finished = false;
  let failure: string | undefined;

  // A dropped SSH session makes writes fail with EIO/EPIPE; that must end the run, not crash it.
  const onStreamError = (): void => finish(129);
  stdout.on('error', onStreamError);
  stdin.on('error', onStreamError);

  const signalHandlers = Object.keys(SIGNALS).map((sig) => {
    const handler = (): void => finish(128 + SIGNALS[sig as Signal]);
    process.on(sig as Signal, handler);
    return [sig as Signal, handler] as const;
  });
  const onCrash = (err: unknown): void => {
    failure = describeError(err);
    finish(1);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const write = (s: string): void => {
    try {
      stdout.write(s);
    } catch {
      // the terminal is gone; nothing left to restore
    }
  };

  write(ENTER_ALT_SCREEN);
  const onExit = (code: number): void => finish(code);
  const app = createElement(
    ErrorBoundary,
    { onExit },
    createElement(Dashboard, { client, url: opts.url, color: colorEnabled(), onExit }),
  );
  const instance = render(app, { stdin, stdout, stderr, exitOnCtrlC: false, patchConsole: false });

  function finish(code: number): void {
    if (finished) return;
    finished = true;
    try {
      instance.unmount();
    } catch {
      // already unmounted by Ink's own exit hook
    }
    try {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    } catch {
      // stdin already closed
    }
    write(LEAVE_ALT_SCREEN);
    client.close();
    for (const [m, fn] of savedConsole) console[m] = fn as never;
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    // Removed a tick later: Ink's signal-exit hook re-raises the signal (killing the process before this
    // promise resolves) when it finds no other listener during the same dispatch.
    // The stream error listeners stay: a write to a terminal that has gone away can still fail after this.
    setImmediate(() => {
      for (const [sig, handler] of signalHandlers) process.off(sig, handler);
    });
    if (failure) {
      try {
        stderr.write(`hms tui: stopped after an internal error: ${failure}\n`);
      } catch {
        // no terminal left to tell
      }
    }
    settle(code);
  }

  return done;
}
