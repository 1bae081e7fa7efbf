import java.io.IOException;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapred.FileSplit;
import org.apache.hadoop.mapred.InputSplit;
import org.apache.hadoop.mapred.JobConf;
import org.apache.hadoop.mapred.LineRecordReader;
import org.apache.hadoop.mapred.RecordReader;
import org.apache.hadoop.mapred.Reporter;
import org.apache.hadoop.mapred.lib.CombineFileInputFormat;
import org.apache.hadoop.mapred.lib.CombineFileRecordReader;
import org.apache.hadoop.mapred.lib.CombineFileSplit;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;

/**
 * The input of the batch job (`-inputformat HmsMasterInputFormat`): master files of both forms, packed into splits
 * as CombineTextInputFormat packs them. A shipped segment's JSON lines are read as text lines; a compacted
 * partition (Parquet, zstd) with Parquet's own reader, each record handed to the mapper as the very line the
 * daemon would have written for it (src/core/master-record.ts, encodeLine), so the mapper and everything after it
 * is the same for both. Parquet's zstd codec is zstd-jni: no native Hadoop library is needed.
 */
public class HmsMasterInputFormat extends CombineFileInputFormat<LongWritable, Text> {

  /** A Parquet file is read whole by one reader; JSON lines split at line boundaries as TextInputFormat does. */
  @Override
  protected boolean isSplitable(FileSystem fs, Path file) {
    return !isParquet(file);
  }

  @Override
  @SuppressWarnings({"unchecked", "rawtypes"})
  public RecordReader<LongWritable, Text> getRecordReader(InputSplit split, JobConf job, Reporter reporter) throws IOException {
    return new CombineFileRecordReader<LongWritable, Text>(job, (CombineFileSplit) split, reporter, (Class) OneFile.class);
  }

  static boolean isParquet(Path file) {
    return file.getName().endsWith(".parquet");
  }

  /** One file of a combined split (CombineFileRecordReader builds one per file, with this constructor). */
  public static class OneFile implements RecordReader<LongWritable, Text> {
    private final LineRecordReader lines;
    private final ParquetReader<Group> parquet;
    private final long length;
    private long records;
    private boolean done;

    public OneFile(CombineFileSplit split, Configuration conf, Reporter reporter, Integer index) throws IOException {
      Path path = split.getPath(index);
      length = split.getLength(index);
      if (isParquet(path)) {
        parquet = ParquetReader.builder(new GroupReadSupport(), path).withConf(conf).build();
        lines = null;
      } else {
        lines = new LineRecordReader(conf, new FileSplit(path, split.getOffset(index), length, (String[]) null));
        parquet = null;
      }
    }

    @Override
    public boolean next(LongWritable key, Text value) throws IOException {
      if (lines != null) return lines.next(key, value);
      Group g = done ? null : parquet.read();
      if (g == null) {
        done = true;
        return false;
      }
      key.set(records++);
      value.set(line(g));
      return true;
    }

    @Override
    public LongWritable createKey() {
      return new LongWritable();
    }

    @Override
    public Text createValue() {
      return new Text();
    }

    @Override
    public long getPos() throws IOException {
      return lines != null ? lines.getPos() : done ? length : 0;
    }

    @Override
    public float getProgress() throws IOException {
      return lines != null ? lines.getProgress() : done ? 1f : 0f;
    }

    @Override
    public void close() throws IOException {
      if (lines != null) lines.close();
      if (parquet != null) parquet.close();
    }
  }

  /**
   * A record as its master line: the fields of RECORD_FIELDS (jobs/mapreduce/task/record.mts) in order. Doubles as
   * Java prints them (the shortest text that reads back to the same double; JSON takes `1.0E-5`).
   */
  static String line(Group g) {
    StringBuilder b = new StringBuilder(160);
    b.append("{\"service\":");
    quote(b, g.getString("service", 0));
    b.append(",\"ts\":").append(g.getLong("ts", 0));
    for (String f : new String[] {"cpu", "ram_total", "ram_free", "disk_total", "disk_free"}) b.append(",\"").append(f).append("\":").append(g.getDouble(f, 0));
    b.append(",\"recv\":").append(g.getLong("recv", 0)).append('}');
    return b.toString();
  }

  /** A JSON string literal (service names have no control characters: the decoder refuses them). */
  static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    b.append('"');
  }
}
