/** Reduce stage: `node reducer.mjs`, rows sorted by (service, bucket) in, one merged row per key out. */
import { runStage } from './io.mjs';
import { SortedMerger } from './stages.mjs';

let merger: SortedMerger;
await runStage(
  'reducer',
  (emit) => {
    merger = new SortedMerger(emit);
    return merger;
  },
  () => ({ reduce_rows_in: merger.rowsIn, reduce_rows_out: merger.rowsOut }),
);
