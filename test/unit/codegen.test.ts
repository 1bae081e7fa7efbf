import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { generate } from '../../scripts/codegen.js';

test('the generated API types are those of the SDL and the dashboard documents as they are now (else: npm run codegen)', async (t) => {
  const root = join(import.meta.dirname, '..', '..');
  for (const [path, text] of await generate()) {
    const committed = await readFile(join(root, path), 'utf8').catch(() => '(missing)');
    t.true(committed === text, `${path} is stale: run npm run codegen (npm run build and typecheck do)`);
  }
});
