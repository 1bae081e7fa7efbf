/**
 * Map stage: `node mapper.mjs` with master dataset lines on stdin, `stage_minute` rows on stdout.
 * Settings (`-cmdenv`): HMS_WATERMARK (required, epoch microseconds), HMS_MR_MAP_KEYS (in-mapper
 * combining bound, default 50000, 0 = a row per record), HMS_MR_FAIL_MARKER (tests: fail on a line
 * containing it).
 */
import { intEnv, runStage } from './io.mjs';
import { RecordMapper } from './stages.mjs';

let mapper: RecordMapper;
await runStage(
  'mapper',
  (emit) => {
    mapper = new RecordMapper(
      { watermark: intEnv('HMS_WATERMARK'), maxKeys: intEnv('HMS_MR_MAP_KEYS', 50_000), failMarker: process.env.HMS_MR_FAIL_MARKER || undefined },
      emit,
    );
    return { push: (line) => mapper.push(line), end: () => mapper.flush() };
  },
  () => ({ map_records_kept: mapper.counts.kept, map_records_held_back: mapper.counts.heldBack }),
);
