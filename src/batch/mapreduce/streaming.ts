/**
 * The Hadoop Streaming command line of a batch job (a pure function, so it is tested without Hadoop).
 * Runs on the submitting side (the daemon), not on the cluster: only `task/` is shipped with the job.
 */

/** Link name of the shipped task directory in each task's working directory (`-files <dir>#hms-mr`). */
export const TASK_LINK = 'hms-mr';

export interface StreamingJob {
  /** Fully qualified input files (`hdfs://nn:8020/hms/master/date=.../hour=../seg-...jsonl`). */
  inputs: string[];
  /** Fully qualified output directory; must not exist yet. */
  output: string;
  /** Local directory holding the compiled task scripts (mapper.mjs, combiner.mjs, reducer.mjs, ...). */
  taskDir: string;
  /** Node on the task nodes, e.g. `node` (no spaces: Streaming splits the command on them). */
  nodeBin: string;
  /** Records with ts >= watermark are held back (epoch microseconds). */
  watermark: number;
  /** Local path of the generated configuration file that carries the input list (see `inputListConf`). */
  inputListFile: string;
  /** Reduce tasks: one output file each. */
  reduces: number;
  /** Upper bound of a map split; small master files are packed into splits up to this size. */
  splitBytes: number;
  /** In-mapper combining bound (keys held per map task); 0 leaves all merging to the combiner. */
  mapKeys?: number;
  /** Tests: a map input line containing this text fails its task. No spaces (`-cmdenv` splits on them). */
  failMarker?: string;
  /** Old-space limit of each task's Node process, MB. */
  taskHeapMb: number;
  /** The input format class (HmsMasterInputFormat: JSON lines and compacted Parquet alike). */
  inputFormat: string;
  /** Jars a cluster's task JVMs need (the input format and Parquet's), shipped with `-libjars`. */
  libjars?: string[];
  /** Local mode (LocalJobRunner in the submitting JVM) instead of the cluster's framework. */
  local?: {
    fsUri: string;
    /**
     * Local scratch directory of the job: staging (LocalJobRunner keeps it on the local file system),
     * localized files, task work dirs, map outputs. Deleted by the caller after the run.
     */
    scratchDir: string;
    /** Map tasks run at once. */
    mapSlots: number;
  };
  jobName: string;
  /** More `-D` properties (they win over the ones above). */
  conf?: Record<string, string>;
}

/** Hadoop's path-list escaping (StringUtils.escapeString): `\` and `,` are escaped with `\`. */
const escapePath = (p: string): string => p.replace(/[\\,]/g, (c) => `\\${c}`);

const xmlText = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The input list travels in a configuration file (`-conf`), not on the command line: a full recompute
 * names one file per segment and hour, tens of thousands over a month, far past ARG_MAX (a single
 * argument may not pass 128 KiB). Streaming requires one `-input` and appends it to this list
 * (FileInputFormat.addInputPaths), so the file lists every input but the first.
 */
export function inputListConf(inputs: string[]): string {
  const rest = inputs.slice(1).map(escapePath).join(',');
  const property = rest ? `\n  <property><name>mapreduce.input.fileinputformat.inputdir</name><value>${xmlText(rest)}</value></property>` : '';
  return `<?xml version="1.0"?>\n<configuration>${property}\n</configuration>\n`;
}

/** The arguments after `HadoopStreaming` (or after `hadoop jar hadoop-streaming.jar`). */
export function streamingArgs(job: StreamingJob): string[] {
  if (job.inputs.length === 0) throw new Error('a streaming job needs at least one input');
  const conf: Record<string, string> = {
    'mapreduce.job.name': job.jobName,
    // Key = service and bucket, for the map output and for the combiner's output, which Streaming parses
    // with the *reduce* output setting (PipeCombiner extends PipeReducer): without the second, combined
    // rows would be keyed and sorted by service alone and a reducer could see one bucket twice.
    'stream.num.map.output.key.fields': '2',
    'stream.num.reduce.output.key.fields': '2',
    // The input format would hand the mapper "key<TAB>line"; the mapper wants the line only.
    'stream.map.input.ignoreKey': 'true',
    'mapreduce.input.fileinputformat.split.maxsize': String(job.splitBytes),
    'mapreduce.job.reduces': String(job.reduces),
    // The client checks for completion every 5 s by default: seconds lost per run for nothing.
    'mapreduce.client.completion.pollinterval': '200',
    'mapreduce.client.progressmonitor.pollinterval': '500',
  };
  if (job.local) {
    Object.assign(conf, {
      'mapreduce.framework.name': 'local',
      'fs.defaultFS': job.local.fsUri,
      'hadoop.tmp.dir': job.local.scratchDir,
      'mapreduce.local.map.tasks.maximum': String(job.local.mapSlots),
      'mapreduce.local.reduce.tasks.maximum': String(Math.min(job.reduces, job.local.mapSlots)),
    });
  }
  Object.assign(conf, job.conf);
  const cmdenv: Record<string, string> = {
    HMS_WATERMARK: String(job.watermark),
    // V8 grows its heap lazily (a mapper reached 400 MB of mostly garbage here). On YARN the container's
    // memory limit covers the task JVM and this process together, so the heap gets a bound.
    NODE_OPTIONS: `--max-old-space-size=${job.taskHeapMb}`,
  };
  if (job.mapKeys !== undefined) cmdenv.HMS_MR_MAP_KEYS = String(job.mapKeys);
  if (job.failMarker) cmdenv.HMS_MR_FAIL_MARKER = job.failMarker;
  for (const [k, v] of Object.entries(cmdenv)) {
    if (/\s/.test(v)) throw new Error(`-cmdenv ${k} must not contain spaces: ${JSON.stringify(v)}`);
  }
  const run = (script: string) => `${job.nodeBin} ${TASK_LINK}/${script}`;
  return [
    // Generic options first: GenericOptionsParser stops at the first option it does not know.
    '-conf',
    job.inputListFile,
    ...Object.entries(conf).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
    '-files',
    `${job.taskDir}#${TASK_LINK}`,
    ...(job.libjars?.length ? ['-libjars', job.libjars.join(',')] : []),
    '-inputformat',
    job.inputFormat,
    '-input',
    job.inputs[0],
    '-output',
    job.output,
    '-mapper',
    run('mapper.mjs'),
    '-combiner',
    run('combiner.mjs'),
    '-reducer',
    run('reducer.mjs'),
    ...Object.entries(cmdenv).flatMap(([k, v]) => ['-cmdenv', `${k}=${v}`]),
  ];
}
