import { useEffect, useState } from 'react';

/** The clock, re-read every `everyMs`, so "4s ago" keeps counting between pushes. */
export function useNow(clock: () => number, everyMs = 1000): number {
  const [now, setNow] = useState(clock);
  useEffect(() => {
    const timer = setInterval(() => setNow(clock()), everyMs);
    // The terminal and the socket keep the process alive; a ticking clock alone must not.
    timer.unref();
    return () => clearInterval(timer);
  }, [clock, everyMs]);
  return now;
}
