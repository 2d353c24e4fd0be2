package io.kinema.train.checkpoint;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * Compares the resolved config a checkpoint was written with to the current one, so that resuming a
 * different experiment is refused with the keys that differ. Keys that may change between the legs
 * of one run (how long to train, where and how often to save, validation, logging, data loading
 * threads) are not compared.
 */
public final class ConfigDiff {
  /** Dotted key prefixes a resumed run may change. */
  public static final List<String> MAY_CHANGE =
      List.of(
          "training.loop.max_train_steps",
          "training.loop.log_every_steps",
          "training.checkpoint",
          "training.tracker",
          "training.data.dataloader_num_workers",
          "callbacks.validation");

  private ConfigDiff() {}

  /** One line per differing key: {@code key: <saved> -> <current>}; empty when compatible. */
  public static List<String> differences(Map<String, Object> saved, Map<String, Object> current) {
    List<String> out = new ArrayList<>();
    walk("", saved, current, out);
    return out;
  }

  @SuppressWarnings("unchecked")
  private static void walk(String prefix, Object a, Object b, List<String> out) {
    if (mayChange(prefix)) return;
    if (a instanceof Map && b instanceof Map) {
      var keys = new TreeSet<String>();
      keys.addAll(((Map<String, Object>) a).keySet());
      keys.addAll(((Map<String, Object>) b).keySet());
      for (String k : keys) {
        walk(
            prefix.isEmpty() ? k : prefix + "." + k,
            ((Map<String, Object>) a).get(k),
            ((Map<String, Object>) b).get(k),
            out);
      }
      return;
    }
    if (!sameValue(a, b)) out.add(prefix + ": " + show(a) + " -> " + show(b));
  }

  private static boolean mayChange(String key) {
    for (String p : MAY_CHANGE) if (key.equals(p) || key.startsWith(p + ".")) return true;
    return false;
  }

  /** Equal, treating numbers by value (JSON reads every number back as a double). */
  private static boolean sameValue(Object a, Object b) {
    if (a instanceof Number x && b instanceof Number y) return x.doubleValue() == y.doubleValue();
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if (x.size() != y.size()) return false;
      for (int i = 0; i < x.size(); i++) if (!sameValue(x.get(i), y.get(i))) return false;
      return true;
    }
    return Objects.equals(a == null ? null : a.toString(), b == null ? null : b.toString());
  }

  private static String show(Object v) {
    return v == null ? "(absent)" : v.toString();
  }
}
