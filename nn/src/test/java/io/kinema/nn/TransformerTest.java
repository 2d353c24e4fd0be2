package io.kinema.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuAllocator;
import io.kinema.tensor.grad.GradMode;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The proof that the layers compose: a small causal transformer built from them learns (overfits a
 * fixed batch), and gradient checkpointing of its blocks gives the same gradients with less memory.
 */
class TransformerTest {
  /** Pre-norm block: x + attn(norm1(x)), then + ffn(norm2(.)), checkpointable. */
  static final class Block extends Module implements Layer {
    private final Generator dropoutGen;
    private final Attention.Rotary rope;

    Block(int dim, int heads, int hidden, double dropout, Attention.Rotary rope, Generator gen) {
      this.dropoutGen = gen;
      this.rope = rope;
      registerModule("norm1", new LayerNorm(new long[] {dim}, 1e-6, true, true, DType.F32));
      registerModule(
          "attn1",
          new Attention(
              dim,
              dim,
              heads,
              dim / heads,
              Attention.QkNorm.RMS_ACROSS_HEADS,
              1e-6,
              true,
              DType.F32,
              gen));
      registerModule("norm2", new LayerNorm(new long[] {dim}, 1e-6, true, true, DType.F32));
      registerModule(
          "ffn",
          new FeedForward(
              dim, hidden, FeedForward.Activation.GELU_TANH, dropout, true, DType.F32, gen));
    }

    @Override
    public Tensor forward(Tensor x) {
      return checkpoint(in -> body(in.get(0)), List.of(x), dropoutGen);
    }

    private Tensor body(Tensor x) {
      try (var s = Scope.open()) {
        Attention attn = (Attention) getSubmodule("attn1");
        Tensor h = x.add(attn.forward(layer("norm1").forward(x), AttentionMask.CAUSAL, rope));
        return s.keep(h.add(layer("ffn").forward(layer("norm2").forward(h))));
      }
    }

    private Layer layer(String name) {
      return (Layer) getSubmodule(name);
    }
  }

  /** Embedding, blocks, final norm, vocabulary head. */
  static final class TinyLm extends Module {
    final ModuleList<Block> blocks;
    private final Tensor cos, sin;

    TinyLm(
        int vocab,
        int dim,
        int heads,
        int hidden,
        int layers,
        int seq,
        double dropout,
        Generator gen) {
      registerModule("embed", new Embedding(vocab, dim, gen));
      double[][] a = AttentionTest.angles(seq, dim / heads);
      try (var s = Scope.open()) {
        cos = AttentionTest.table(a, false, DType.F32).share();
        sin = AttentionTest.table(a, true, DType.F32).share();
      }
      Attention.Rotary rope = Attention.Rotary.of(cos, sin, true);
      blocks = registerModule("blocks", new ModuleList<>());
      for (int i = 0; i < layers; i++)
        blocks.add(new Block(dim, heads, hidden, dropout, rope, gen));
      registerModule("norm_out", new LayerNorm(new long[] {dim}, 1e-6, true, true, DType.F32));
      registerModule("head", new Linear(dim, vocab, gen));
    }

    @Override
    public void close() {
      super.close();
      cos.close();
      sin.close();
    }

    /** Mean next-token cross-entropy (logSoftmax + gather). */
    Tensor loss(Tensor tokens, Tensor targets) {
      Tensor h = ((Layer) getSubmodule("embed")).forward(tokens);
      for (Block b : blocks) h = b.forward(h);
      h = ((Layer) getSubmodule("norm_out")).forward(h);
      Tensor logits = ((Layer) getSubmodule("head")).forward(h);
      return logits.logSoftmax(-1).gather(-1, targets.unsqueeze(-1)).mean().neg();
    }
  }

  /** Plain Adam (the real optimizers live elsewhere). */
  static final class Adam {
    private final List<Parameter> params;
    private final Map<Parameter, Tensor[]> state = new IdentityHashMap<>();
    private final double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    private int t;

    Adam(List<Parameter> params, double lr) {
      this.params = params;
      this.lr = lr;
    }

    void step() {
      t++;
      double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
      try (var ng = GradMode.noGrad();
          var s = Scope.open()) {
        for (Parameter p : params) {
          Tensor g = p.grad();
          if (g == null) continue;
          Tensor[] mv =
              state.computeIfAbsent(
                  p,
                  k ->
                      new Tensor[] {
                        Tensor.zerosLike(p.data()).share(), Tensor.zerosLike(p.data()).share()
                      });
          mv[0].mulInPlace(b1).addInPlace(g.mul(1 - b1));
          mv[1].mulInPlace(b2).addInPlace(g.square().mul(1 - b2));
          Tensor denom = mv[1].sqrt().div(Math.sqrt(bc2)).add(eps);
          p.data().subInPlace(mv[0].div(denom).mul(lr / bc1));
        }
      }
    }

    void close() {
      for (Tensor[] mv : state.values()) for (Tensor x : mv) x.close();
    }
  }

  @Test
  void smallTransformerOverfitsAFixedBatch() {
    int vocab = 16, seq = 16, batch = 4;
    Random rnd = new Random(1);
    long[] tok = new long[batch * seq], tgt = new long[batch * seq];
    for (int b = 0; b < batch; b++) {
      long[] row = new long[seq + 1];
      for (int i = 0; i <= seq; i++) row[i] = rnd.nextInt(vocab);
      row[0] = b; // distinct first tokens, else position 0 has no single right answer
      for (int i = 0; i < seq; i++) {
        tok[b * seq + i] = row[i];
        tgt[b * seq + i] = row[i + 1];
      }
    }
    try (TinyLm lm = new TinyLm(vocab, 32, 4, 64, 2, seq, 0, new Generator(7));
        var data = Scope.open()) {
      Tensor tokens = Tensor.of(tok, batch, seq), targets = Tensor.of(tgt, batch, seq);
      Adam adam = new Adam(lm.trainableParameters(), 3e-2);
      long t0 = System.nanoTime();
      double first = 0, loss = 0;
      long firstStep = 0;
      int step;
      for (step = 0; step < 300; step++) {
        try (var s = Scope.open()) {
          Tensor l = lm.loss(tokens, targets);
          loss = l.item();
          if (step == 0) first = loss;
          l.backward();
        }
        adam.step();
        lm.zeroGrad();
        if (step == 0) firstStep = System.nanoTime() - t0;
        if (loss < 1e-3) break;
      }
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf(
          "[TransformerTest] overfit: loss %.3f -> %.5f in %d steps, %.2f s (first step %.2f s,"
              + " JIT warm-up included; %d params)%n",
          first, loss, step + 1, secs, firstStep / 1e9, lm.parameterCount(true));
      assertTrue(first > 2.0, "starts near ln(16) = 2.77: " + first);
      assertTrue(loss < 1e-3, "final loss " + loss);
      adam.close();
    }
  }

  /** Forward + backward of a deeper model; returns (peak bytes above the start, grads). */
  private static long run(TinyLm lm, Tensor tokens, Tensor targets, Map<String, double[]> grads) {
    lm.zeroGrad();
    CpuAllocator alloc = CpuAllocator.get();
    long before = alloc.stats().allocated();
    alloc.resetPeak();
    try (var s = Scope.open()) {
      lm.loss(tokens, targets).backward();
    }
    long peak = alloc.stats().peakAllocated() - before;
    for (var e : lm.namedParameters().entrySet()) {
      assertNotNull(e.getValue().grad(), e.getKey());
      grads.put(e.getKey(), e.getValue().grad().toDoubleArray());
    }
    return peak;
  }

  @Test
  void gradientCheckpointingGivesTheSameGradientsWithLessMemory() {
    int vocab = 32, seq = 128, batch = 4;
    Random rnd = new Random(2);
    long[] tok = new long[batch * seq], tgt = new long[batch * seq];
    for (int i = 0; i < tok.length; i++) {
      tok[i] = rnd.nextInt(vocab);
      tgt[i] = rnd.nextInt(vocab);
    }
    Generator gen = new Generator(3);
    try (TinyLm lm = new TinyLm(vocab, 64, 4, 256, 4, seq, 0.1, gen);
        var data = Scope.open()) {
      Tensor tokens = Tensor.of(tok, batch, seq), targets = Tensor.of(tgt, batch, seq);
      long start = gen.offset();
      Map<String, double[]> plain = new java.util.LinkedHashMap<>();
      long plainPeak = run(lm, tokens, targets, plain);
      gen.setOffset(start); // the same dropout masks
      for (Block b : lm.blocks) b.gradientCheckpointing(true);
      Map<String, double[]> ckpt = new java.util.LinkedHashMap<>();
      long ckptPeak = run(lm, tokens, targets, ckpt);
      assertEquals(plain.keySet(), ckpt.keySet());
      for (String k : plain.keySet()) TestUtil.assertClose(plain.get(k), ckpt.get(k), 1e-5, 1e-7);
      // the block is one checkpoint node when training; in eval mode or without grad recording
      // the flag is ignored (nothing would be recomputed)
      try (var s = Scope.open()) {
        Block b0 = lm.blocks.get(0);
        Tensor h = TestUtil.randn(rnd, DType.F32, 1, seq, 64).requiresGrad(true);
        assertEquals("checkpoint", b0.forward(h).gradFn().name());
        lm.eval();
        assertNotEquals("checkpoint", b0.forward(h).gradFn().name());
        lm.train();
        try (var ng = GradMode.noGrad()) {
          assertNull(b0.forward(h).gradFn());
        }
      }
      System.out.printf(
          "[TransformerTest] 4 blocks, B=%d S=%d dim=64 ffn=256: peak %.2f MiB plain, %.2f MiB"
              + " checkpointed (%.0f%%)%n",
          batch, seq, plainPeak / 1048576.0, ckptPeak / 1048576.0, 100.0 * ckptPeak / plainPeak);
      assertTrue(ckptPeak < 0.7 * plainPeak, "peak " + ckptPeak + " vs " + plainPeak);
    }
  }
}
