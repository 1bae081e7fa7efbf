/** Combine stage: `node combiner.mjs`, the reducer's merge on one map task's sorted output. */
import { runStage } from './io.mjs';
import { SortedMerger } from './stages.mjs';

let merger: SortedMerger;
await runStage(
  'combiner',
  (emit) => {
    merger = new SortedMerger(emit);
    return merger;
  },
  () => ({ combine_rows_in: merger.rowsIn, combine_rows_out: merger.rowsOut }),
);
