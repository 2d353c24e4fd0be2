package io.kinema.train.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroup;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;

/** Builders of test data: valid records, and raw rows that may break any rule. */
final class ParquetFixtures {
  private ParquetFixtures() {}

  /** A record with random values; {@code L} tokens of dim {@code D}. */
  static LatentRecord record(Random rnd, int i, long[] latentShape, int tokens, int dim) {
    float[] latent = randomFloats(rnd, (int) product(latentShape));
    float[] text = randomFloats(rnd, tokens * dim);
    return new LatentRecord(
        "clip-" + i,
        "clip-" + i + ".mp4",
        "caption " + i,
        "video",
        64,
        48,
        latentShape[1],
        2.5,
        16.0,
        latent,
        latentShape,
        text,
        new long[] {tokens, dim});
  }

  /** Writes {@code n} random records ({@code [4,3,2,2]} latents, 1..6 tokens of dim 8). */
  static void writeDataset(Path dir, int n, int rowsPerFile, long seed) {
    Random rnd = new Random(seed);
    try (var w = new ParquetLatentWriter(dir, rowsPerFile)) {
      for (int i = 0; i < n; i++) {
        w.write(record(rnd, i, new long[] {4, 3, 2, 2}, 1 + rnd.nextInt(6), 8));
      }
    }
  }

  static float[] randomFloats(Random rnd, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
    return v;
  }

  static long product(long[] shape) {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  static byte[] bytes(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }

  /** A raw T2V-schema row; any argument may be inconsistent with the others. */
  static Group row(
      MessageType schema,
      String id,
      byte[] latent,
      long[] latentShape,
      String latentDtype,
      byte[] text,
      long[] textShape) {
    Group g = new SimpleGroup(schema);
    g.append("id", id);
    g.append("caption", "caption of " + id);
    if (schema.containsField("vae_latent_bytes")) {
      g.append("vae_latent_bytes", Binary.fromConstantByteArray(latent));
      shape(g, "vae_latent_shape", latentShape);
      if (latentDtype != null) g.append("vae_latent_dtype", latentDtype);
    }
    g.append("text_embedding_bytes", Binary.fromConstantByteArray(text));
    shape(g, "text_embedding_shape", textShape);
    g.append("text_embedding_dtype", "float32");
    return g;
  }

  /** A valid raw row with {@code [4,2,2,2]} latent and {@code [3,8]} text. */
  static Group goodRow(MessageType schema, Random rnd, String id) {
    return row(
        schema,
        id,
        bytes(randomFloats(rnd, 32)),
        new long[] {4, 2, 2, 2},
        "float32",
        bytes(randomFloats(rnd, 24)),
        new long[] {3, 8});
  }

  private static void shape(Group g, String field, long[] shape) {
    Group list = g.addGroup(field);
    for (long d : shape) list.addGroup("list").append("element", d);
  }

  static void writeRows(Path file, MessageType schema, List<Group> rows) throws IOException {
    try (ParquetWriter<Group> w =
        ExampleParquetWriter.builder(new LocalOutputFile(file))
            .withConf(new PlainParquetConfiguration())
            .withType(schema)
            .withCompressionCodec(CompressionCodecName.ZSTD)
            .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
            .build()) {
      for (Group g : rows) w.write(g);
    }
  }
}
