/**
 * Imported first by the TUI component tests: pins the time zone so clock times in frames are predictable, and
 * turns colour on in Ink's chalk so that a test can tell coloured output from NO_COLOR output. (FORCE_COLOR in
 * the environment comes too late: ava's worker loads chalk, and chalk reads it once, before any test file.)
 */
import chalk from 'chalk';

process.env['TZ'] = 'UTC';
chalk.level = 1;
