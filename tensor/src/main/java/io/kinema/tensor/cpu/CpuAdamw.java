package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fused AdamW step ({@code Backend.adamwStep}) on dense F32 tensors: one pass reading p, g, m,
 * v and writing p, m, v, where the composed optimizer makes about fourteen. Every operation is one
 * IEEE f32 operation in the composed order (the Vector API's mul/add/div/sqrt are correctly rounded
 * and never contracted), so the bits are the composed ops'. Elementwise: any thread count gives the
 * same result.
 */
final class CpuAdamw {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder NO = ByteOrder.nativeOrder();

  private CpuAdamw() {}

  /** Whether the fused step applies: dense F32 tensors of one shape. */
  static boolean applies(Tensor p, Tensor g, Tensor m, Tensor v) {
    for (Tensor t : new Tensor[] {p, g, m, v}) {
      if (t.dtype() != DType.F32 || !t.isContiguous() || !Arrays.equals(t.shape(), p.shape())) {
        return false;
      }
    }
    return true;
  }

  static void step(Tensor p, Tensor g, Tensor m, Tensor v, AdamwScalars s) {
    MemorySegment ps = p.storage().segment(), gs = g.storage().segment();
    MemorySegment ms = m.storage().segment(), vs = v.storage().segment();
    long po = 4 * p.offset(), go = 4 * g.offset(), mo = 4 * m.offset(), vo = 4 * v.offset();
    long n = p.numel();
    Parallel.forRange(
        Math.ceilDiv(n, L),
        4096,
        (from, to) -> {
          // The scalars as vectors once per chunk, not per iteration.
          FloatVector decay = FloatVector.broadcast(S, s.decay());
          FloatVector beta1 = FloatVector.broadcast(S, s.beta1());
          FloatVector omb1 = FloatVector.broadcast(S, s.oneMinusBeta1());
          FloatVector beta2 = FloatVector.broadcast(S, s.beta2());
          FloatVector omb2 = FloatVector.broadcast(S, s.oneMinusBeta2());
          FloatVector negStep = FloatVector.broadcast(S, s.negStep());
          FloatVector bc2Sqrt = FloatVector.broadcast(S, s.bc2Sqrt());
          FloatVector eps = FloatVector.broadcast(S, s.eps());
          boolean maximize = s.maximize();
          long end = Math.min(n, to * L);
          long i = from * L;
          for (; i + L <= end; i += L) {
            FloatVector gr = FloatVector.fromMemorySegment(S, gs, go + 4 * i, NO);
            if (maximize) gr = gr.neg();
            FloatVector pr = FloatVector.fromMemorySegment(S, ps, po + 4 * i, NO).mul(decay);
            FloatVector mr =
                FloatVector.fromMemorySegment(S, ms, mo + 4 * i, NO).mul(beta1).add(gr.mul(omb1));
            FloatVector vr =
                FloatVector.fromMemorySegment(S, vs, vo + 4 * i, NO)
                    .mul(beta2)
                    .add(gr.mul(omb2).mul(gr));
            FloatVector denom = vr.lanewise(VectorOperators.SQRT).div(bc2Sqrt).add(eps);
            pr = pr.add(mr.mul(negStep).div(denom));
            pr.intoMemorySegment(ps, po + 4 * i, NO);
            mr.intoMemorySegment(ms, mo + 4 * i, NO);
            vr.intoMemorySegment(vs, vo + 4 * i, NO);
          }
          for (; i < end; i++)
            scalar(ps, po + 4 * i, gs, go + 4 * i, ms, mo + 4 * i, vs, vo + 4 * i, s);
        });
  }

  private static void scalar(
      MemorySegment ps,
      long pa,
      MemorySegment gs,
      long ga,
      MemorySegment ms,
      long ma,
      MemorySegment vs,
      long va,
      AdamwScalars s) {
    ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT_UNALIGNED;
    float g = gs.get(f, ga);
    if (s.maximize()) g = -g;
    float p = ps.get(f, pa) * s.decay();
    float m = ms.get(f, ma) * s.beta1() + g * s.oneMinusBeta1();
    float v = vs.get(f, va) * s.beta2() + (g * s.oneMinusBeta2()) * g;
    float denom = (float) Math.sqrt(v) / s.bc2Sqrt() + s.eps();
    p = p + (m * s.negStep()) / denom;
    ps.set(f, pa, p);
    ms.set(f, ma, m);
    vs.set(f, va, v);
  }
}
