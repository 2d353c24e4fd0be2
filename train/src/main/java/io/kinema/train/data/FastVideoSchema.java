package io.kinema.train.data;

import java.util.ArrayList;
import java.util.List;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * FastVideo's preprocessed-data Parquet schema ({@code pyarrow_schema_t2v}, spec training-infra.md
 * §5) as pyarrow writes it, and the checks that a file's schema can be read as T2V or text-only.
 *
 * <p>Tensors are three columns: {@code <name>_bytes} (raw little-endian float32, C order), {@code
 * <name>_shape} ({@code list<int64>}) and {@code <name>_dtype} ({@code "float32"}).
 */
final class FastVideoSchema {
  private FastVideoSchema() {}

  /** The T2V schema, field for field what pyarrow writes for {@code pyarrow_schema_t2v}. */
  static final MessageType T2V =
      MessageTypeParser.parseMessageType(
          """
          message schema {
            optional binary id (STRING);
            optional binary vae_latent_bytes;
            optional group vae_latent_shape (LIST) {
              repeated group list {
                optional int64 element;
              }
            }
            optional binary vae_latent_dtype (STRING);
            optional binary text_embedding_bytes;
            optional group text_embedding_shape (LIST) {
              repeated group list {
                optional int64 element;
              }
            }
            optional binary text_embedding_dtype (STRING);
            optional binary file_name (STRING);
            optional binary caption (STRING);
            optional binary media_type (STRING);
            optional int64 width;
            optional int64 height;
            optional int64 num_frames;
            optional double duration_sec;
            optional double fps;
          }
          """);

  /**
   * Checks that {@code schema} has the columns {@code kind} needs with usable types and returns the
   * projection the reader requests (those columns plus the optional dtype columns present), in the
   * file's own types.
   */
  static MessageType projection(MessageType schema, DatasetKind kind, String file) {
    List<String> missing = new ArrayList<>();
    for (String column : kind.requiredColumns()) {
      if (!schema.containsField(column)) missing.add(column);
    }
    if (!missing.isEmpty()) {
      throw new DataException(
          file
              + ": missing column"
              + (missing.size() > 1 ? "s " : " ")
              + String.join(", ", missing)
              + "; a FastVideo "
              + kind.name().toLowerCase(java.util.Locale.ROOT)
              + " file needs "
              + String.join(", ", kind.requiredColumns())
              + " (found "
              + schema.getFields().stream().map(Type::getName).toList()
              + ")");
    }
    List<Type> fields = new ArrayList<>();
    for (String column : kind.requiredColumns()) {
      Type type = schema.getType(column);
      if (column.endsWith("_shape")) checkShapeList(type, file);
      else checkBinary(type, file, column.endsWith("_bytes") ? "binary" : "string");
      fields.add(type);
    }
    for (String column : kind.requiredColumns()) {
      if (!column.endsWith("_bytes")) continue;
      String dtype = column.replace("_bytes", "_dtype");
      if (schema.containsField(dtype)) {
        Type type = schema.getType(dtype);
        checkBinary(type, file, "string");
        fields.add(type);
      }
    }
    return new MessageType(schema.getName(), fields);
  }

  private static void checkBinary(Type type, String file, String expected) {
    if (!type.isPrimitive()
        || type.asPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.BINARY
        || type.isRepetition(Type.Repetition.REPEATED)) {
      throw new DataException(
          file + ": column " + type.getName() + " is " + describe(type) + ", expected " + expected);
    }
  }

  /**
   * Accepts the standard 3-level LIST ({@code group (LIST) { repeated group list { element } }})
   * and the legacy 2-level forms ({@code repeated int64} inside the LIST group, or a bare repeated
   * column), with int64 or int32 elements.
   */
  private static void checkShapeList(Type type, String file) {
    if (ShapeColumn.elementType(type) == null) {
      throw new DataException(
          file
              + ": column "
              + type.getName()
              + " is "
              + describe(type)
              + ", expected a list<int64> shape");
    }
  }

  private static String describe(Type type) {
    return type.toString().replaceAll("\\s+", " ").trim();
  }

  /** How to walk the values of a shape column of any accepted list layout. */
  static final class ShapeColumn {
    private ShapeColumn() {}

    /** The integer element type of a shape list column, or null if the layout is not a list. */
    static PrimitiveType elementType(Type type) {
      if (type.isPrimitive()) {
        return type.isRepetition(Type.Repetition.REPEATED) && isInteger(type)
            ? (PrimitiveType) type
            : null;
      }
      GroupType group = type.asGroupType();
      if (group.isRepetition(Type.Repetition.REPEATED) || group.getFieldCount() != 1) return null;
      if (!(group.getLogicalTypeAnnotation()
          instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation)) {
        return null;
      }
      Type repeated = group.getType(0);
      if (!repeated.isRepetition(Type.Repetition.REPEATED)) return null;
      if (repeated.isPrimitive()) return isInteger(repeated) ? (PrimitiveType) repeated : null;
      GroupType inner = repeated.asGroupType();
      if (inner.getFieldCount() != 1 || !inner.getType(0).isPrimitive()) return null;
      Type element = inner.getType(0);
      return isInteger(element) && !element.isRepetition(Type.Repetition.REPEATED)
          ? (PrimitiveType) element
          : null;
    }

    private static boolean isInteger(Type type) {
      PrimitiveTypeName name = type.asPrimitiveType().getPrimitiveTypeName();
      return name == PrimitiveTypeName.INT64 || name == PrimitiveTypeName.INT32;
    }
  }
}
