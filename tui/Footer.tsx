import { Text } from 'ink';
import { fitText } from './format.js';

export type FooterMode = 'table' | 'detail' | 'help' | 'alerts' | 'filter' | 'confirm';

export interface FooterProps {
  mode: FooterMode;
  sort: string;
  window: string;
  chart: string;
}

/** The keys that work right now; the full list is behind `?`. */
export function footerKeys({ mode, sort, window, chart }: FooterProps): string {
  switch (mode) {
    case 'table':
      // 80 columns with the longest sort label ("last seen"); j/k are in the help.
      return `↑↓ move  ⏎ detail  / filter  s sort:${sort}  a alerts  b batch  ? help  q quit`;
    case 'detail':
      return `Esc back  jk prev/next  w window:${window}  c chart:${chart}  r reload  b batch  q quit`;
    case 'alerts':
      return 'Esc back  ↑↓/jk move  ⏎ service detail  r reload  b batch  ? help  q quit';
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
