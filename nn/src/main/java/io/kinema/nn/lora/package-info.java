/**
 * Low-rank adapters (LoRA) for linear layers: {@link io.kinema.nn.lora.LoraLinear} (PEFT's layer
 * layout), {@link io.kinema.nn.lora.Lora} (wrapping a model, merging, extraction by truncated SVD,
 * files with diffusers/PEFT key names) and {@link io.kinema.nn.lora.LoraConfig} (PEFT's config and
 * the {@code lora_adapter_metadata} that diffusers stores in the file header). Layers take part
 * through {@link io.kinema.nn.lora.LinearLike}.
 */
package io.kinema.nn.lora;
