package io.kinema.train.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.parquet.ParquetReadOptions;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * One Parquet file of a dataset: its footer (read once, at open), the columns requested from it,
 * and where each row group starts. Row groups are read on demand, one whole group at a time (the
 * unit Parquet compresses and lays out contiguously), with a fresh file handle so that reads are
 * thread-safe.
 */
final class LatentFile {
  private static final ParquetReadOptions READ_OPTIONS =
      ParquetReadOptions.builder(new PlainParquetConfiguration()).build();

  private final Path path;
  private final String name;
  private final ParquetMetadata footer;
  private final MessageType fileSchema;
  private final MessageType projection;
  private final long[] groupStarts; // groupStarts[g] = first row of group g; last entry = rows

  private LatentFile(Path path, ParquetMetadata footer, MessageType projection) {
    this.path = path;
    this.name = path.toString();
    this.footer = footer;
    this.fileSchema = footer.getFileMetaData().getSchema();
    this.projection = projection;
    List<BlockMetaData> blocks = footer.getBlocks();
    groupStarts = new long[blocks.size() + 1];
    for (int g = 0; g < blocks.size(); g++) {
      groupStarts[g + 1] = groupStarts[g] + blocks.get(g).getRowCount();
    }
  }

  /** Reads the footer and checks the schema against {@code kind}. */
  static LatentFile open(Path path, DatasetKind kind) {
    ParquetMetadata footer;
    try (var reader = ParquetFileReader.open(new LocalInputFile(path), READ_OPTIONS)) {
      footer = reader.getFooter();
    } catch (IOException | RuntimeException e) {
      throw new DataException(path + ": not a readable Parquet file (" + e.getMessage() + ")", e);
    }
    MessageType schema = footer.getFileMetaData().getSchema();
    return new LatentFile(path, footer, FastVideoSchema.projection(schema, kind, path.toString()));
  }

  /** The path as found under the data source (relative if the source was), for messages. */
  String name() {
    return name;
  }

  Path path() {
    return path;
  }

  long rows() {
    return groupStarts[groupStarts.length - 1];
  }

  int rowGroups() {
    return groupStarts.length - 1;
  }

  long groupStart(int group) {
    return groupStarts[group];
  }

  /** The row group holding row {@code row} of this file. */
  int groupOf(long row) {
    int lo = 0, hi = rowGroups() - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (groupStarts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Decodes the requested columns of row group {@code group} into raw rows. */
  List<RawRow> readRowGroup(int group) {
    InputFile input = new LocalInputFile(path);
    try (var reader = ParquetFileReader.open(input, footer, READ_OPTIONS, input.newStream())) {
      reader.setRequestedSchema(projection);
      PageReadStore pages = reader.readRowGroup(group);
      if (pages == null) throw new IOException("row group " + group + " is missing");
      RecordReader<Group> records =
          new ColumnIOFactory()
              .getColumnIO(projection, fileSchema)
              .getRecordReader(pages, new GroupRecordConverter(projection));
      int n = Math.toIntExact(pages.getRowCount());
      List<RawRow> rows = new ArrayList<>(n);
      for (int i = 0; i < n; i++) rows.add(toRawRow(records.read()));
      return rows;
    } catch (IOException | RuntimeException e) {
      if (e instanceof DataException d) throw d;
      throw new DataException(
          name + " row group " + group + ": cannot be read (" + e.getMessage() + ")", e);
    }
  }

  private static RawRow toRawRow(Group g) {
    String[] error = new String[1];
    long[] latentShape = shape(g, "vae_latent_shape", error);
    long[] textShape = shape(g, "text_embedding_shape", error);
    return new RawRow(
        string(g, "id"),
        string(g, "caption"),
        bytes(g, "vae_latent_bytes"),
        latentShape,
        string(g, "vae_latent_dtype"),
        bytes(g, "text_embedding_bytes"),
        textShape,
        string(g, "text_embedding_dtype"),
        error[0]);
  }

  private static boolean present(Group g, String field) {
    return g.getType().containsField(field) && g.getFieldRepetitionCount(field) > 0;
  }

  private static String string(Group g, String field) {
    return present(g, field) ? g.getString(field, 0) : null;
  }

  private static byte[] bytes(Group g, String field) {
    return present(g, field) ? g.getBinary(field, 0).getBytes() : null;
  }

  /** A shape list in any accepted layout (see {@link FastVideoSchema}); null when absent. */
  private static long[] shape(Group g, String field, String[] error) {
    if (!g.getType().containsField(field)) return null;
    Type type = g.getType().getType(field);
    boolean int64 =
        FastVideoSchema.ShapeColumn.elementType(type).getPrimitiveTypeName()
            == PrimitiveTypeName.INT64;
    if (type.isPrimitive()) { // bare repeated column
      int index = g.getType().getFieldIndex(field);
      long[] shape = new long[g.getFieldRepetitionCount(index)];
      for (int k = 0; k < shape.length; k++) shape[k] = integer(g, index, k, int64);
      return shape;
    }
    if (g.getFieldRepetitionCount(field) == 0) return null;
    Group list = g.getGroup(field, 0);
    Type repeated = ((GroupType) type).getType(0);
    long[] shape = new long[list.getFieldRepetitionCount(0)];
    for (int k = 0; k < shape.length; k++) {
      if (repeated.isPrimitive()) {
        shape[k] = integer(list, 0, k, int64);
      } else {
        Group element = list.getGroup(0, k);
        if (element.getFieldRepetitionCount(0) == 0) {
          if (error[0] == null) error[0] = field + " has a null element at position " + k;
          return shape;
        }
        shape[k] = integer(element, 0, 0, int64);
      }
    }
    return shape;
  }

  private static long integer(Group g, int field, int index, boolean int64) {
    return int64 ? g.getLong(field, index) : g.getInteger(field, index);
  }
}
