import { Text } from 'ink';
import { fitText } from './format.js';

export type FooterMode = 'table' | 'detail' | 'help' | 'filter' | 'confirm';

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
      return `↑↓/jk move  ⏎ detail  / filter  s sort:${sort}  b batch  ? help  q quit`;
    case 'detail':
      return `Esc back  jk prev/next  w window:${window}  c chart:${chart}  r reload  b batch  q quit`;
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
