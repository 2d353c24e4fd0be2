package io.kinema.nn;

import static io.kinema.nn.TestUtil.assertClose;
import static io.kinema.nn.TestUtil.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** State dicts, strict loading, freezing and dtype conversion of models built from the layers. */
class ModuleStateTest {
  /** A two-block attention model with Wan-like names. */
  static final class Net extends Module {
    final ModuleList<Module> blocks;

    Net(DType dt, Generator gen) {
      registerModule("proj_in", new Linear(6, 8, true, dt, gen));
      blocks = registerModule("blocks", new ModuleList<>());
      for (int i = 0; i < 2; i++) {
        Module b = blocks.add(new Block(dt, gen));
        assertNotNull(b);
      }
      registerModule("norm_out", new LayerNorm(new long[] {8}, 1e-6, false, false, dt));
    }

    Tensor forward(Tensor x) {
      try (var s = Scope.open()) {
        Tensor h = ((Layer) getSubmodule("proj_in")).forward(x);
        for (Module b : blocks) h = ((Block) b).forward(h);
        return s.keep(((Layer) getSubmodule("norm_out")).forward(h));
      }
    }
  }

  static final class Block extends Module implements Layer {
    Block(DType dt, Generator gen) {
      registerModule(
          "attn1",
          new Attention(8, 8, 2, 4, Attention.QkNorm.RMS_ACROSS_HEADS, 1e-6, true, dt, gen));
      registerModule("norm2", new LayerNorm(new long[] {8}, 1e-6, true, true, dt));
      registerModule(
          "ffn", new FeedForward(8, 12, FeedForward.Activation.GELU_TANH, 0, true, dt, gen));
    }

    @Override
    public Tensor forward(Tensor x) {
      try (var s = Scope.open()) {
        Tensor h = x.add(((Attention) getSubmodule("attn1")).forward(x, AttentionMask.NONE));
        Tensor n = ((Layer) getSubmodule("norm2")).forward(h);
        return s.keep(h.add(((Layer) getSubmodule("ffn")).forward(n)));
      }
    }
  }

  @Test
  void stateDictKeysAndRoundTrip() {
    try (var s = Scope.open();
        Net a = new Net(DType.F32, new Generator(1));
        Net b = new Net(DType.F32, new Generator(2))) {
      List<String> keys = new ArrayList<>(a.stateDict().keySet());
      assertEquals(2 + 2 * (10 + 2 + 4), keys.size());
      assertEquals("proj_in.weight", keys.get(0));
      assertTrue(keys.contains("blocks.1.attn1.to_out.0.weight"));
      assertTrue(keys.contains("blocks.0.attn1.norm_k.weight"));
      assertTrue(keys.contains("blocks.1.ffn.net.0.proj.bias"));
      assertTrue(keys.contains("blocks.0.norm2.bias"));
      Tensor x = randn(new Random(1), DType.F32, 2, 3, 6);
      double[] ya = a.forward(x).toDoubleArray();
      assertFalse(java.util.Arrays.equals(ya, b.forward(x).toDoubleArray()));
      assertTrue(b.loadStateDict(a.stateDict(), true).isClean());
      assertArrayEquals(ya, b.forward(x).toDoubleArray());
      // loading copies: later changes to a do not reach b
      LayersTest.assign(a.blocks.get(0).namedParameters().get("norm2.bias"), new double[8]);
      assertArrayEquals(ya, b.forward(x).toDoubleArray());
      // and converts: an F64 state dict loads into an F32 model
      Map<String, Tensor> f64 = new LinkedHashMap<>();
      for (var e : a.stateDict().entrySet()) f64.put(e.getKey(), e.getValue().to(DType.F64));
      assertTrue(b.loadStateDict(f64, true).isClean());
      assertEquals(DType.F32, b.stateDict().get("proj_in.weight").dtype());
    }
  }

  @Test
  void strictLoadingListsEveryProblemAndCopiesNothing() {
    try (var s = Scope.open();
        Net a = new Net(DType.F32, new Generator(1));
        Net b = new Net(DType.F32, new Generator(2))) {
      Map<String, Tensor> src = new LinkedHashMap<>(a.stateDict());
      src.remove("blocks.0.attn1.to_k.bias");
      src.put("blocks.0.attn1.norm_added_q.weight", Tensor.ones(8));
      src.put("blocks.1.ffn.net.2.weight", Tensor.zeros(8, 13));
      double[] before = b.stateDict().get("proj_in.weight").toDoubleArray();
      var e = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(src, true));
      String m = e.getMessage();
      assertTrue(m.contains("missing keys [blocks.0.attn1.to_k.bias]"), m);
      assertTrue(m.contains("unexpected keys [blocks.0.attn1.norm_added_q.weight]"), m);
      assertTrue(m.contains("blocks.1.ffn.net.2.weight: checkpoint [8, 13] vs model [8, 12]"), m);
      assertArrayEquals(before, b.stateDict().get("proj_in.weight").toDoubleArray());
      // non-strict: loads what fits and reports the rest
      Module.LoadResult r = b.loadStateDict(src, false);
      assertEquals(List.of("blocks.0.attn1.to_k.bias"), r.missing());
      assertEquals(List.of("blocks.0.attn1.norm_added_q.weight"), r.unexpected());
      assertEquals(1, r.mismatched().size());
      assertArrayEquals(
          a.stateDict().get("proj_in.weight").toDoubleArray(),
          b.stateDict().get("proj_in.weight").toDoubleArray());
    }
  }

  @Test
  void freezingByRegexStopsGradients() {
    try (var s = Scope.open();
        Net net = new Net(DType.F32, new Generator(3))) {
      int all = net.parameters().size();
      assertEquals(20, net.requiresGrad("blocks\\.\\d+\\.attn1\\..*", false));
      assertEquals(all - 20, net.trainableParameters().size());
      net.forward(randn(new Random(2), DType.F32, 2, 3, 6)).square().sum().backward();
      for (var e : net.namedParameters().entrySet()) {
        boolean frozen = e.getKey().contains(".attn1.");
        assertEquals(frozen, e.getValue().grad() == null, e.getKey());
      }
      // the frozen count is reported by parameterCount too
      long attn = 0;
      for (var e : net.namedParameters().entrySet())
        if (e.getKey().contains(".attn1.")) attn += e.getValue().data().numel();
      assertEquals(net.parameterCount(false) - attn, net.parameterCount(true));
      net.requiresGrad(true);
      assertEquals(all, net.trainableParameters().size());
    }
  }

  /** Every temporary of a training step is released: allocated memory returns to its level. */
  @Test
  void stepsLeakNoMemory() {
    var alloc = io.kinema.tensor.cpu.CpuAllocator.get();
    try (Net net = new Net(DType.F32, new Generator(5));
        Conv3d conv =
            new Conv3d(
                2,
                3,
                new long[] {2, 3, 2},
                new long[] {1, 2, 1},
                new long[] {1, 1, 0},
                true,
                DType.F32,
                new Generator(6));
        Embedding emb = new Embedding(10, 6, new Generator(7));
        Dropout drop = new Dropout(0.2, new Generator(8))) {
      long level = -1;
      for (int i = 0; i < 3; i++) {
        try (var s = Scope.open()) {
          Tensor tokens = Tensor.of(new long[] {1, 4, 2, 9, 0, 3}, 2, 3);
          Tensor h = drop.forward(emb.forward(tokens));
          Tensor img = randn(new Random(i), DType.F32, 1, 2, 3, 5, 4).requiresGrad(true);
          net.forward(h).sum().add(conv.forward(img).sum()).backward();
        }
        net.zeroGrad();
        conv.zeroGrad();
        emb.zeroGrad();
        // no scope at all: the layers close their own temporaries, the caller its results
        try (Tensor x = Tensor.zeros(2, 3, 6);
            Tensor y = net.forward(x);
            Tensor img = Tensor.ones(1, 2, 3, 5, 4);
            Tensor c = conv.forward(img);
            Tensor tokens = Tensor.of(new long[] {1, 4}, 2);
            Tensor rows = emb.forward(tokens);
            Tensor e = drop.forward(rows)) {
          assertEquals(DType.F32, y.dtype());
          assertTrue(c.requiresGrad() && e.requiresGrad());
        }
        long now = alloc.stats().allocated();
        if (level >= 0) assertEquals(level, now, "bytes allocated after step " + i);
        level = now;
      }
    }
  }

  @Test
  void bf16ConversionKeepsSlotsTrainabilityAndWorks() {
    try (var s = Scope.open();
        Net net = new Net(DType.F32, new Generator(4))) {
      Tensor x = randn(new Random(3), DType.F32, 2, 3, 6);
      double[] y32 = net.forward(x).toDoubleArray();
      net.requiresGrad("proj_in\\..*", false);
      List<Parameter> slots = net.parameters(); // what an optimizer holds
      Map<String, Parameter> named = net.namedParameters();
      assertSame(net, net.to(DType.BF16));
      List<Parameter> after = net.parameters();
      for (int i = 0; i < slots.size(); i++) {
        assertSame(slots.get(i), after.get(i));
        assertEquals(DType.BF16, after.get(i).data().dtype());
      }
      for (var e : named.entrySet())
        assertEquals(!e.getKey().startsWith("proj_in."), e.getValue().requiresGrad(), e.getKey());
      Tensor y16 = net.forward(x.to(DType.BF16));
      assertEquals(DType.BF16, y16.dtype());
      assertClose(y32, y16, 0.1, 0.1);
      y16.to(DType.F32).square().sum().backward();
      assertEquals(DType.BF16, named.get("blocks.0.ffn.net.2.weight").grad().dtype());
      assertNull(named.get("proj_in.weight").grad());
      // and back
      net.to(DType.F32);
      assertSame(slots.get(0), net.parameters().get(0));
      assertEquals(DType.F32, slots.get(0).data().dtype());
    }
  }
}
