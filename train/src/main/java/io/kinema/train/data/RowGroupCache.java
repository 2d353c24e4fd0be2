package io.kinema.train.data;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

/**
 * A least-recently-used cache of decoded row groups, bounded in bytes. Shuffled training reads rows
 * in random order, and Parquet's smallest independently readable unit is a row group (its column
 * chunks are compressed as a whole), so every row read costs a row-group read unless the group is
 * still here. A dataset that fits the bound is therefore read once; a larger one streams through
 * the cache with memory bounded by {@code maxBytes} plus the groups being read.
 *
 * <p>Thread-safe: workers asking for the same group while it is being read wait for that one read.
 */
final class RowGroupCache {
  record Key(String file, int group) {}

  private final long maxBytes;
  private final LinkedHashMap<Key, CompletableFuture<List<RawRow>>> groups =
      new LinkedHashMap<>(16, 0.75f, true);
  private final Map<Key, Long> sizes = new LinkedHashMap<>();
  private long bytes;

  RowGroupCache(long maxBytes) {
    this.maxBytes = maxBytes;
  }

  /** The rows of {@code key}, read with {@code read} if not cached. */
  List<RawRow> get(Key key, Supplier<List<RawRow>> read) {
    CompletableFuture<List<RawRow>> future;
    boolean reader = false;
    synchronized (this) {
      future = groups.get(key);
      if (future == null) {
        future = new CompletableFuture<>();
        groups.put(key, future);
        reader = true;
      }
    }
    if (reader) {
      try {
        List<RawRow> rows = read.get();
        long size = rows.stream().mapToLong(RawRow::heapBytes).sum();
        synchronized (this) {
          sizes.put(key, size);
          bytes += size;
          evict(key);
        }
        future.complete(rows);
      } catch (RuntimeException e) {
        synchronized (this) {
          groups.remove(key);
        }
        future.completeExceptionally(e);
        throw e;
      }
    }
    try {
      return future.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw e;
    }
  }

  /** Drops least recently used, fully read groups other than {@code keep} until within bounds. */
  private void evict(Key keep) {
    Iterator<Map.Entry<Key, CompletableFuture<List<RawRow>>>> it = groups.entrySet().iterator();
    while (bytes > maxBytes && it.hasNext()) {
      Map.Entry<Key, CompletableFuture<List<RawRow>>> e = it.next();
      Long size = sizes.get(e.getKey());
      if (e.getKey().equals(keep) || size == null) continue; // in use, or still being read
      it.remove();
      sizes.remove(e.getKey());
      bytes -= size;
    }
  }

  synchronized long bytes() {
    return bytes;
  }

  synchronized int size() {
    return groups.size();
  }
}
