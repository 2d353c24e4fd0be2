package io.kinema.train.model;

import io.kinema.diffusion.wan.WanCausalTransformer3D;
import io.kinema.diffusion.wan.WanInit;
import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.nn.lora.Lora;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.SafetensorsFile;
import io.kinema.train.config.InitFrom;
import io.kinema.train.config.LoraConfig;
import io.kinema.train.config.ModelConfig;
import io.kinema.train.config.PipelineConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Builds a {@link RoleModel} from its {@code models.<role>} section: weights from a diffusers
 * folder or a preset's fresh initialization, the optional weight override, gradient checkpointing,
 * LoRA adapters (FastVideo's substring targeting) and the causal wrapper.
 */
public final class RoleFactory {
  private RoleFactory() {}

  /**
   * @param dtype the parameters' dtype ({@code training.dit_precision})
   * @param seed seeds a preset's initialization and the LoRA factors (the same seed gives the same
   *     initial weights, which exact resume of LoRA runs relies on)
   * @param checkpointing gradient checkpointing from {@code training.model} when the role does not
   *     set it
   * @param textLen the text length the causal model pads to
   */
  public static RoleModel build(
      ModelConfig mc,
      PipelineConfig pipeline,
      DType dtype,
      long seed,
      boolean checkpointing,
      int textLen)
      throws IOException {
    WanTransformer3D model = load(mc, dtype, seed);
    try {
      if (mc.transformerOverrideSafetensor() != null) override(model, mc);
      model.gradientCheckpointing(mc.gradientCheckpointing() || checkpointing);
      if (mc.lora().enable()) applyLora(model, mc.role(), mc.lora(), seed);
      WanCausalTransformer3D causal = null;
      if (mc.causal()) {
        int local =
            pipeline.localAttnSize() != null ? pipeline.localAttnSize() : mc.localAttnSize();
        int sink = pipeline.sinkSize() != null ? pipeline.sinkSize() : mc.sinkSize();
        causal = new WanCausalTransformer3D(model, mc.numFramesPerBlock(), local, sink, textLen);
      }
      return new RoleModel(mc.role(), model, causal, mc.trainable(), mc.flowShift());
    } catch (RuntimeException | IOException e) {
      model.close();
      throw e;
    }
  }

  private static WanTransformer3D load(ModelConfig mc, DType dtype, long seed) throws IOException {
    return switch (mc.initFrom()) {
      case InitFrom.Preset p -> {
        WanTransformer3D m = new WanTransformer3D(mc.config(), dtype, new Generator(seed));
        // A preset is trained from scratch: Wan's own initialization unless the config opts out.
        if (!mc.disableCustomInitWeights()) WanInit.originalWan(m, new Generator(seed + 1));
        yield m;
      }
      case InitFrom.Pretrained p ->
          mc.arch().isEmpty()
              ? WanTransformer3D.fromPretrained(p.path(), dtype, true)
              : WanTransformer3D.load(mc.config(), p.weights(), dtype, true);
    };
  }

  /** Replaces the weights with those of {@code transformer_override_safetensor} (strict). */
  private static void override(WanTransformer3D model, ModelConfig mc) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(mc.transformerOverrideSafetensor());
        var s = io.kinema.tensor.Scope.open()) {
      Map<String, Tensor> sd = new java.util.LinkedHashMap<>();
      for (String key : f.keys()) sd.put(key, f.get(key));
      Module.LoadResult r = model.loadStateDict(sd, true);
      if (!r.missing().isEmpty() || !r.unexpected().isEmpty() || !r.mismatched().isEmpty()) {
        throw new IllegalArgumentException(
            "models." + mc.role() + ".transformer_override_safetensor: " + r);
      }
    }
  }

  /**
   * Wraps every linear layer whose dotted name contains one of the target strings and none of the
   * excluded ones (FastVideo's substring rule, training-infra.md §8), then freezes the rest.
   * Returns the wrapped names.
   */
  public static List<String> applyLora(Module model, String role, LoraConfig lora, long seed) {
    List<String> names = new ArrayList<>();
    for (var e : model.namedModules().entrySet()) {
      String name = e.getKey();
      if (!(e.getValue() instanceof LinearLike)) continue;
      boolean hit = lora.targetModules().stream().anyMatch(name::contains);
      boolean excluded = lora.excludeModules().stream().anyMatch(name::contains);
      if (hit && !excluded) names.add(name);
    }
    if (names.isEmpty()) {
      throw new IllegalArgumentException(
          "models."
              + role
              + ".lora.target_modules "
              + lora.targetModules()
              + " match no linear layer of the model");
    }
    String regex = names.stream().map(Pattern::quote).collect(Collectors.joining("|"));
    io.kinema.nn.lora.LoraConfig c =
        io.kinema.nn.lora.LoraConfig.ofRegex(lora.rank(), lora.alpha(), regex);
    // A separate stream from the model's initialization: adding LoRA must not change the base.
    return Lora.apply(model, c, null, new Generator(seed ^ 0x4c6f5241L));
  }
}
