package io.kinema.train.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One entry of FastVideo's {@code data_path}: a file or folder of {@code *.parquet} files and how
 * many times its rows are repeated in an epoch (to up-weight a small dataset in a mix).
 *
 * @param path a Parquet file or a folder searched recursively
 * @param repeat how many copies of the rows the epoch holds; 0 leaves the source out
 */
public record DataSource(Path path, int repeat) {
  public DataSource {
    if (path == null) throw new IllegalArgumentException("data_path: null path");
    if (repeat < 0) {
      throw new IllegalArgumentException(
          "data_path " + path + ": repeat must be >= 0, got " + repeat);
    }
  }

  public DataSource(Path path) {
    this(path, 1);
  }

  /**
   * Parses the string form of {@code data_path}: one path or a comma list, each entry optionally
   * {@code path:repeat} ({@code "data/a:2,data/b"}). A colon followed by something that is not a
   * number belongs to the path.
   */
  public static List<DataSource> parseList(String dataPath) {
    List<DataSource> sources = new ArrayList<>();
    for (String entry : dataPath.split(",")) {
      String e = entry.trim();
      if (e.isEmpty()) continue;
      int colon = e.lastIndexOf(':');
      String count = colon < 0 ? "" : e.substring(colon + 1).trim();
      if (!count.isEmpty() && count.chars().allMatch(Character::isDigit)) {
        int repeat;
        try {
          repeat = Integer.parseInt(count);
        } catch (NumberFormatException tooLong) {
          throw new IllegalArgumentException("data_path entry \"" + e + "\": repeat is too large");
        }
        sources.add(new DataSource(Path.of(e.substring(0, colon).trim()), repeat));
      } else {
        sources.add(new DataSource(Path.of(e)));
      }
    }
    if (sources.isEmpty()) {
      throw new IllegalArgumentException("data_path is empty: name a folder of .parquet files");
    }
    return List.copyOf(sources);
  }
}
