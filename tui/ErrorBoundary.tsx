import { Box, Text, useInput, useStdin } from 'ink';
import { Component, type ReactNode } from 'react';

interface Props {
  onExit: (code: number) => void;
  children?: ReactNode;
}

/** A render bug ends in one readable line and a way out, never a stack trace over the dashboard. */
export class ErrorBoundary extends Component<Props, { message: string | null }> {
  override state = { message: null as string | null };

  static getDerivedStateFromError(err: unknown): { message: string } {
    return { message: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300) };
  }

  override render(): ReactNode {
    if (this.state.message === null) return this.props.children;
    return <Crashed message={this.state.message} onExit={this.props.onExit} />;
  }
}

function Crashed({ message, onExit }: { message: string; onExit: (code: number) => void }) {
  const { isRawModeSupported } = useStdin();
  useInput(() => onExit(1), { isActive: isRawModeSupported === true });
  return (
    <Box flexDirection="column">
      <Text bold>The dashboard hit an internal error. Press any key to quit.</Text>
      <Text>{message}</Text>
    </Box>
  );
}
