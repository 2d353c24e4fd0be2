package io.kinema.diffusion.wan;

import io.kinema.nn.Init;
import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;

/**
 * The original Wan repository's initialization for training from scratch ({@code
 * WanModel.init_weights}): every linear layer Xavier-uniform with zero bias, the patch embedding
 * Xavier-uniform over its flattened kernel, the text and time embedders' linear layers {@code N(0,
 * 0.02²)}, and the output projection zero, so that an untrained model predicts zero velocity and
 * each block starts close to the identity. The modulation tables keep the constructor's {@code N(0,
 * 1/D)}.
 *
 * <p>diffusers' constructor instead leaves PyTorch's layer defaults, which is what loading a
 * checkpoint expects; for a model trained from nothing this initialization trains much faster.
 */
public final class WanInit {
  private WanInit() {}

  /** Re-initializes {@code model}'s weights in place from {@code gen}. */
  public static void originalWan(WanTransformer3D model, Generator gen) {
    try (var ng = GradMode.noGrad()) {
      for (var e : model.namedModules().entrySet()) {
        if (e.getValue() instanceof LinearLike l) {
          Init.xavierUniform(l.weight().data(), gen);
          if (l.bias() != null) Init.zeros(l.bias().data());
        }
      }
      Tensor patch = model.getSubmodule("patch_embedding").namedParameters().get("weight").data();
      // Xavier over weight.flatten(1): fan_in = C_in·kt·kh·kw, fan_out = C_out.
      long out = patch.size(0), in = patch.numel() / out;
      double bound = Math.sqrt(6.0 / (in + out));
      Init.uniform(patch, -bound, bound, gen);
      for (String embedder :
          new String[] {"condition_embedder.text_embedder", "condition_embedder.time_embedder"}) {
        for (Module m : model.getSubmodule(embedder).namedModules().values()) {
          if (m instanceof LinearLike l) Init.normal(l.weight().data(), 0, 0.02, gen);
        }
      }
      Init.zeros(((LinearLike) model.getSubmodule("proj_out")).weight().data());
    }
  }
}
