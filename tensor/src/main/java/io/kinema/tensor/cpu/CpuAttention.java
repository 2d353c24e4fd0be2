package io.kinema.tensor.cpu;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Fused (FlashAttention-2 style) attention on the CPU. Work is split into tiles of query rows of
 * one (batch, head); each tile walks the keys block by block with an online softmax, so nothing of
 * size Sq x Sk is ever stored. {@link AttentionF32} is the fast path (F32, and BF16/F16 computed in
 * f32); {@link AttentionF64} is the reference-precision path.
 *
 * <p>Masks: None, Causal and BlockCausal become, per query row i, an exclusive key limit {@code
 * limit(i)} (key j allowed iff {@code j < limit(i)}) that never decreases with i, so key blocks
 * past a tile's largest limit are skipped entirely (causal attention costs about half). Query i has
 * position {@code p = i + Sk - Sq}; Causal allows keys {@code j <= p}, BlockCausal keys in blocks
 * {@code floor(j / blockSize) <= floor(p / blockSize)}. An Explicit mask is read per (row, key). A
 * KeyRanges mask gives each row up to two key intervals: a tile visits only the blocks inside the
 * union of its rows' intervals ({@link KeySegments}) and masks per (row, key) where a block is not
 * wholly visible to every row.
 *
 * <p>A query row that may attend to no key at all gets output 0 and log-sum-exp -inf (PyTorch would
 * give NaN).
 */
final class CpuAttention {
  private CpuAttention() {}

  static void attention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    Plan p = new Plan(q, k, v, mask, scale, out, lseOut);
    if (p.b == 0 || p.h == 0 || p.sq == 0) return;
    if (p.dtype == DType.F64) {
      run(p, AttentionF64.BQ, () -> new AttentionF64(p));
    } else {
      run(p, AttentionF32.BQ, () -> new AttentionF32(p));
    }
  }

  /** One thread's kernel with its scratch tiles. */
  interface Worker {
    /** Computes query rows {@code [q0, min(q0 + tile size, Sq))} of batch b, head h. */
    void tile(int b, int h, int q0);
  }

  /**
   * Runs every (b, h, query tile) on the shared pool. Tiles are handed out one at a time from a
   * shared counter (causal tiles differ in cost, and the machine may be busy), the most expensive
   * ones (last query rows) first. Each worker allocates its scratch once.
   */
  private static void run(Plan p, int bq, Supplier<Worker> factory) {
    long tiles = (p.sq + bq - 1) / bq;
    long bh = (long) p.b * p.h;
    long items = bh * tiles;
    long flops = 2L * bh * p.sq * p.sk * (p.d + p.dv);
    int workers = (int) Math.min(Parallel.threads(), items);
    if (flops < (1L << 21)) workers = 1; // too small to be worth waking a thread
    AtomicLong next = new AtomicLong();
    Parallel.forRange(
        workers,
        1,
        (s, e) -> {
          for (long w = s; w < e; w++) {
            Worker kernel = factory.get();
            for (long it; (it = next.getAndIncrement()) < items; ) {
              long t = tiles - 1 - it / bh;
              long r = it % bh;
              kernel.tile((int) (r / p.h), (int) (r % p.h), (int) (t * bq));
            }
          }
        });
  }

  /** Sizes, segments, strides and mask of one call, read once from the tensors. */
  static final class Plan {
    final DType dtype;
    final int b, h, sq, sk, d, dv;
    final double scale;
    final MemorySegment qs, ks, vs, os;
    final long qOff, kOff, vOff, oOff;
    final long[] qSt, kSt, vSt, oSt;

    /** 0 none, 1 causal, 2 block-causal, 3 explicit, 4 key ranges. */
    final int maskKind;

    static final int EXPLICIT = 3, KEY_RANGES = 4;

    /** KeyRanges only: (lo1, hi1, lo2, hi2) of each query row, clamped to [0, Sk]. */
    final int[] ranges;

    final long blockSize;
    final long posOffset; // Sk - Sq: the absolute position of query row 0
    final MemorySegment ms;
    final long mOff;
    final long[] mSt;

    final MemorySegment ls;
    final DType lseType;
    final long lOff;
    final long[] lSt;

    Plan(Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lse) {
      dtype = q.dtype();
      b = Math.toIntExact(q.size(0));
      h = Math.toIntExact(q.size(1));
      sq = Math.toIntExact(q.size(2));
      d = Math.toIntExact(q.size(3));
      sk = Math.toIntExact(k.size(2));
      dv = Math.toIntExact(v.size(3));
      this.scale = scale;
      qs = q.storage().segment();
      ks = k.storage().segment();
      vs = v.storage().segment();
      os = out.storage().segment();
      qOff = q.offset();
      kOff = k.offset();
      vOff = v.offset();
      oOff = out.offset();
      qSt = q.strides();
      kSt = k.strides();
      vSt = v.strides();
      oSt = out.strides();
      posOffset = (long) sk - sq;
      switch (mask) {
        case AttentionMask.None n -> {
          maskKind = 0;
          blockSize = 0;
        }
        case AttentionMask.Causal c -> {
          maskKind = 1;
          blockSize = 0;
        }
        case AttentionMask.BlockCausal bc -> {
          maskKind = 2;
          blockSize = bc.blockSize();
        }
        case AttentionMask.Explicit e -> {
          maskKind = EXPLICIT;
          blockSize = 0;
        }
        case AttentionMask.KeyRanges r -> {
          maskKind = KEY_RANGES;
          blockSize = 0;
        }
      }
      ranges = mask instanceof AttentionMask.KeyRanges r ? readRanges(r.ranges(), sq, sk) : null;
      if (mask instanceof AttentionMask.Explicit e) {
        // Broadcast to [B, H, Sq, Sk] as stride-0 views (the front-end already did; cheap to redo).
        try (Tensor m = e.allowed().expand(b, h, sq, sk)) {
          ms = m.storage().segment();
          mOff = m.offset();
          mSt = m.strides();
        }
      } else {
        ms = null;
        mOff = 0;
        mSt = null;
      }
      if (lse != null) {
        ls = lse.storage().segment();
        lseType = lse.dtype();
        lOff = lse.offset();
        lSt = lse.strides();
      } else {
        ls = null;
        lseType = null;
        lOff = 0;
        lSt = null;
      }
    }

    private static int[] readRanges(Tensor t, int sq, int sk) {
      long[] r = t.toLongArray();
      if (r.length != 4L * sq) {
        throw new IllegalArgumentException(
            "attention: KeyRanges mask "
                + t.describe()
                + " needs one row per query (Sq = "
                + sq
                + ")");
      }
      int[] out = new int[r.length];
      for (int i = 0; i < r.length; i++) out[i] = (int) Math.clamp(r[i], 0, sk);
      return out;
    }

    /**
     * Keys {@code j < keyLimit(i)} may be attended by query row i (before an explicit or key-ranges
     * mask, for which it is Sk).
     */
    long keyLimit(long i) {
      long p = i + posOffset;
      long lim =
          switch (maskKind) {
            case 1 -> p + 1;
            case 2 -> (Math.floorDiv(p, blockSize) + 1) * blockSize;
            default -> sk;
          };
      return Math.clamp(lim, 0, sk);
    }

    /** Whether query row i's key ranges hold key j (KeyRanges only). */
    boolean inRanges(long i, long j) {
      int at = (int) i * 4;
      return (ranges[at] <= j && j < ranges[at + 1]) || (ranges[at + 2] <= j && j < ranges[at + 3]);
    }

    /** The explicit or key-ranges mask's verdict on (b, h, i, j); true for the limit masks. */
    boolean allowedAt(int bi, int hi, long i, long j) {
      return switch (maskKind) {
        case EXPLICIT -> allowed(bi, hi, i, j);
        case KEY_RANGES -> inRanges(i, j);
        default -> true;
      };
    }

    /**
     * Whether some row of {@code [q0, q0 + rows)} may see a key of {@code [k0, k1)} (always true
     * for an explicit mask, which is not scanned ahead).
     */
    boolean anySees(int q0, int rows, long k0, long k1) {
      return switch (maskKind) {
        case EXPLICIT -> true;
        case KEY_RANGES -> {
          for (int i = q0; i < q0 + rows; i++) {
            int at = i * 4;
            if (Math.max(ranges[at], k0) < Math.min(ranges[at + 1], k1)) yield true;
            if (Math.max(ranges[at + 2], k0) < Math.min(ranges[at + 3], k1)) yield true;
          }
          yield false;
        }
        default -> keyLimit(q0 + rows - 1) > k0;
      };
    }

    /**
     * Whether every row of {@code [q0, q0 + rows)} sees every key of {@code [k0, k1)} (KeyRanges).
     */
    boolean allSee(int q0, int rows, long k0, long k1) {
      for (int i = q0; i < q0 + rows; i++) {
        int at = i * 4;
        boolean first = ranges[at] <= k0 && k1 <= ranges[at + 1];
        if (!first && !(ranges[at + 2] <= k0 && k1 <= ranges[at + 3])) return false;
      }
      return true;
    }

    /** The explicit mask's element for (b, h, i, j). */
    boolean allowed(int bi, int hi, long i, long j) {
      long at = mOff + bi * mSt[0] + hi * mSt[1] + i * mSt[2] + j * mSt[3];
      return ms.get(ValueLayout.JAVA_BYTE, at) != 0;
    }

    /** Stores row i's log-sum-exp, when asked for. */
    void storeLse(int bi, int hi, long i, double value) {
      if (ls == null) return;
      long at = lOff + bi * lSt[0] + hi * lSt[1] + i * lSt[2];
      if (lseType == DType.F64) ls.setAtIndex(ValueLayout.JAVA_DOUBLE, at, value);
      else Elements.setDouble(ls, lseType, at, value);
    }
  }
}
