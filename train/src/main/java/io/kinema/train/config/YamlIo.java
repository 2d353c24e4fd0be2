package io.kinema.train.config;

import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import org.snakeyaml.engine.v2.api.Dump;
import org.snakeyaml.engine.v2.api.DumpSettings;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.common.FlowStyle;
import org.snakeyaml.engine.v2.exceptions.Mark;
import org.snakeyaml.engine.v2.exceptions.MarkedYamlEngineException;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;
import org.snakeyaml.engine.v2.schema.CoreSchema;

/**
 * YAML in and out (snakeyaml-engine, YAML 1.2 core schema: {@code 3e-4} is a number, {@code off} a
 * string, duplicate keys an error).
 */
final class YamlIo {
  private YamlIo() {}

  /**
   * Reads {@code file} as a map of sections.
   *
   * @param source names the file in errors
   * @throws ConfigException for an unreadable file, a syntax error (with line and column), an empty
   *     document or one that is not a map
   */
  static Map<String, Object> readSections(Path file, String source) {
    String text;
    try {
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw new ConfigException(source, "", "no such file");
    } catch (MalformedInputException e) {
      throw new ConfigException(source, "", "not UTF-8 text");
    } catch (IOException e) {
      throw new ConfigException(source, "", "cannot read: " + e.getMessage());
    }
    Object doc = parse(text, source);
    if (doc == null) {
      throw new ConfigException(
          source, "", "empty document; expected the sections models, method and training");
    }
    if (!(doc instanceof Map<?, ?> m)) {
      throw new ConfigException(
          source, "", "expected a map of sections at the top, got " + Keys.describe(doc));
    }
    for (Object k : m.keySet()) {
      if (!(k instanceof String)) {
        throw new ConfigException(source, "", "section names must be strings, got " + k);
      }
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> sections = (Map<String, Object>) m;
    return sections;
  }

  /**
   * Parses one YAML document (maps keep their order).
   *
   * @throws ConfigException for a syntax error, naming {@code source}, the line and the column
   */
  static Object parse(String text, String source) {
    LoadSettings settings =
        LoadSettings.builder()
            .setLabel(source)
            .setSchema(new CoreSchema())
            .setAllowDuplicateKeys(false)
            .build();
    try {
      return new Load(settings).loadFromString(text);
    } catch (MarkedYamlEngineException e) {
      String where = e.getProblemMark().or(e::getContextMark).map(YamlIo::position).orElse("");
      String problem = e.getProblem() != null ? e.getProblem() : e.getContext();
      throw new ConfigException(source, "", where + "YAML syntax error: " + oneLine(problem));
    } catch (YamlEngineException e) {
      throw new ConfigException(source, "", "YAML error: " + oneLine(e.getMessage()));
    }
  }

  private static String position(Mark m) {
    return "line " + (m.getLine() + 1) + ", column " + (m.getColumn() + 1) + ": ";
  }

  private static String oneLine(String s) {
    return s == null ? "" : s.strip().replaceAll("\\s*\\R\\s*", " ");
  }

  /** Block-style YAML of a tree of maps, lists and scalars. */
  static String dump(Object tree) {
    DumpSettings settings =
        DumpSettings.builder().setDefaultFlowStyle(FlowStyle.BLOCK).setIndent(2).build();
    return new Dump(settings).dumpToString(tree);
  }

  /** Pretty-printed JSON of a tree of maps, lists and scalars (nulls kept). */
  static String toJson(Object tree) {
    return new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(tree) + "\n";
  }
}
