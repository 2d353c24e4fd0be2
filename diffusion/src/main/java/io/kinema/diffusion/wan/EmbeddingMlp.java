package io.kinema.diffusion.wan;

import io.kinema.nn.Layer;
import io.kinema.nn.Linear;
import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * {@code linear_2(act(linear_1(x)))}: diffusers' {@code TimestepEmbedding} (SiLU; Wan's {@code
 * time_embedder}) and {@code PixArtAlphaTextProjection} (tanh GELU; Wan's {@code text_embedder}),
 * which share their parameter names {@code linear_1.*}, {@code linear_2.*}.
 */
public final class EmbeddingMlp extends Module implements Layer {
  /** The activation between the two projections. */
  public enum Activation {
    SILU,
    GELU_TANH
  }

  private final Activation activation;

  public EmbeddingMlp(
      long in, long hidden, long out, Activation activation, DType dtype, Generator gen) {
    this.activation = activation;
    registerModule("linear_1", new Linear(in, hidden, true, dtype, gen));
    registerModule("linear_2", new Linear(hidden, out, true, dtype, gen));
  }

  /** The dtype of {@code linear_1}'s weight (diffusers casts the time features to it). */
  DType weightDtype() {
    return ((LinearLike) getSubmodule("linear_1")).weight().data().dtype();
  }

  @Override
  public Tensor forward(Tensor x) {
    try (var s = Scope.open()) {
      Tensor h = ((Layer) getSubmodule("linear_1")).forward(x);
      h = activation == Activation.SILU ? h.silu() : h.geluTanh();
      return s.keep(((Layer) getSubmodule("linear_2")).forward(h));
    }
  }

  @Override
  public String toString() {
    return "EmbeddingMlp(" + getSubmodule("linear_1") + ", " + activation + ")";
  }
}
