package io.kinema.nn;

import io.kinema.tensor.Tensor;

/**
 * A module that applies an affine map {@code y = x W^T + b} (PyTorch's {@code nn.Linear} layout:
 * weight [out, in], bias [out] or none): what {@link io.kinema.nn.lora.LoraLinear} can wrap and
 * {@link io.kinema.nn.lora.Lora#merge} can fold an adapter into. Implementations must be {@link
 * Module}s; {@link #weight()} and {@link #bias()} are their registered slots (named {@code weight}
 * and {@code bias}, so the state-dict keys are PyTorch's).
 */
public interface LinearLike extends Layer {
  /** The weight slot, [outFeatures, inFeatures]. */
  Parameter weight();

  /** The bias slot, [outFeatures], or null when the layer has none. */
  Parameter bias();

  /** {@code x [..., in] -> [..., out]}. */
  @Override
  Tensor forward(Tensor x);

  long inFeatures();

  long outFeatures();
}
