import { Text } from 'ink';
import { fitText } from './format.js';

export type FooterMode = 'table' | 'detail' | 'help' | 'alerts' | 'rejects' | 'filter' | 'confirm';

export interface FooterProps {
  mode: FooterMode;
  window: string;
  chart: string;
}

/** The keys that work right now, within 80 columns; the full list (moving, S, u in the table) is behind `?`. */
export function footerKeys({ mode, window, chart }: FooterProps): string {
  switch (mode) {
    case 'table':
      // The sort shows in the status line and on its column, so the footer needs only the key.
      return '⏎ detail  / filter  s/S sort  a alerts  x rejected  b batch  ? help  q quit';
    case 'detail':
      return `Esc back  jk prev/next  w window:${window}  c chart:${chart}  r reload  u UTC  q quit`;
    case 'alerts':
      return 'Esc back  ↑↓/jk move  ⏎ service detail  r reload  b batch  ? help  q quit';
    case 'rejects':
      return 'Esc back  ↑↓/jk scroll  r load the newest  u UTC  b batch  ? help  q quit';
    case 'help':
      return 'Esc or ? close help  q quit';
    case 'filter':
      return 'type to filter  ⏎ keep  Esc clear  ↑↓ move';
    case 'confirm':
      return 'y run incremental batch  f full recompute  n or Esc cancel';
  }
}

export function Footer(props: FooterProps & { width: number }) {
  return (
    <Text inverse wrap="truncate">
      {fitText(footerKeys(props), props.width)}
    </Text>
  );
}
