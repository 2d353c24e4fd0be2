package io.kinema.nn.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Attention;
import io.kinema.nn.FeedForward;
import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** LoRA on the real nn layers, with the Wan block's diffusers names. */
class LoraOnLayersTest {
  /** One Wan-like block: self-attention, cross-attention and the feed-forward. */
  static final class Block extends Module {
    final Attention attn1;
    final Attention attn2;
    final FeedForward ffn;

    Block(Generator g) {
      attn1 =
          registerModule(
              "attn1", new Attention(16, 2, Attention.QkNorm.RMS_ACROSS_HEADS, DType.F64, g));
      attn2 =
          registerModule(
              "attn2", new Attention(16, 2, Attention.QkNorm.RMS_ACROSS_HEADS, DType.F64, g));
      ffn =
          registerModule(
              "ffn",
              new FeedForward(16, 32, FeedForward.Activation.GELU_TANH, 0, true, DType.F64, g));
    }

    Tensor forward(Tensor x, Tensor ctx) {
      Tensor h = x.add(attn1.forward(x));
      h = h.add(attn2.forward(h, ctx));
      return h.add(ffn.forward(h));
    }
  }

  @Test
  void wrapsEveryWanTargetAndOnlyAdaptersTrain() {
    Generator g = new Generator(5);
    try (Block block = new Block(g);
        var s = Scope.open()) {
      Tensor x = Tensor.randn(g, DType.F64, io.kinema.tensor.Device.CPU, 2, 5, 16);
      Tensor ctx = Tensor.randn(g, DType.F64, io.kinema.tensor.Device.CPU, 2, 3, 16);
      double[] before = block.forward(x, ctx).toDoubleArray();

      List<String> wrapped = Lora.apply(block, LoraConfig.WAN_TARGET_MODULES, 4, 8, g);
      assertEquals(
          List.of(
              "attn1.to_q",
              "attn1.to_k",
              "attn1.to_v",
              "attn1.to_out.0",
              "attn2.to_q",
              "attn2.to_k",
              "attn2.to_v",
              "attn2.to_out.0",
              "ffn.net.0.proj",
              "ffn.net.2"),
          wrapped);
      // B = 0: the wrapped block computes exactly what it did.
      assertArrayEquals(before, block.forward(x, ctx).toDoubleArray(), 0);
      for (var e : block.namedParameters().entrySet()) {
        boolean adapter = e.getKey().contains(".lora_");
        assertEquals(adapter, e.getValue().requiresGrad(), e.getKey());
      }
      assertTrue(
          Lora.adapterStateDict(block, "transformer")
              .containsKey("transformer.attn1.to_q.lora_A.weight"));

      // A few SGD steps move the adapters and nothing else.
      double[] frozen =
          block.namedParameters().get("attn1.to_q.base_layer.weight").data().toDoubleArray();
      for (int step = 0; step < 3; step++) {
        try (var st = Scope.open()) {
          block.forward(x, ctx).square().mean().backward();
          try (var ng = GradMode.noGrad()) {
            for (Parameter p : block.trainableParameters()) {
              p.data().subInPlace(p.grad().mul(0.1));
            }
          }
          block.zeroGrad();
        }
      }
      assertArrayEquals(
          frozen,
          block.namedParameters().get("attn1.to_q.base_layer.weight").data().toDoubleArray(),
          0);
      double[] adapted = block.forward(x, ctx).toDoubleArray();
      assertFalse(java.util.Arrays.equals(before, adapted));

      // Merging folds the adapters into the base weights with the same outputs.
      Lora.merge(block);
      assertTrue(block.stateDict().containsKey("attn1.to_q.weight"));
      assertArrayEquals(adapted, block.forward(x, ctx).toDoubleArray(), 1e-12);
    }
  }
}
