package io.kinema.nn.lora;

import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;

/**
 * One factor of an adapter, PEFT's {@code lora_A} / {@code lora_B} (a bias-free linear layer): a
 * module holding a single parameter {@code weight}, so the adapter's keys end in {@code
 * lora_A.weight} and {@code lora_B.weight}.
 */
final class LoraFactor extends Module {
  final Parameter weight;

  LoraFactor(Tensor weight) {
    this.weight = registerParameter("weight", weight);
  }
}
