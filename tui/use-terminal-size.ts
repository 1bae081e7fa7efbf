import { useStdout } from 'ink';
import { useEffect, useState } from 'react';

export interface TerminalSize {
  columns: number;
  rows: number;
}

/**
 * Columns and rows of the terminal, updated on resize; `fixed` overrides both (tests, frame-time measurement).
 * On resize the screen is wiped first: a narrower terminal re-wraps the old frame, and Ink would only erase
 * the lines it believes it drew.
 */
const readSize = (stdout: NodeJS.WriteStream): TerminalSize => ({
  columns: stdout.columns || 80,
  rows: stdout.rows || 24,
});

export function useTerminalSize(fixed?: TerminalSize): TerminalSize {
  const { stdout, write } = useStdout();
  const [size, setSize] = useState<TerminalSize>(() => readSize(stdout));
  useEffect(() => {
    if (fixed) return;
    const onResize = (): void => {
      write('\u001B[2J\u001B[H');
      setSize(readSize(stdout));
    };
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, write, fixed]);
  return fixed ?? size;
}
