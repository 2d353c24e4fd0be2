/**
 * The Wan 2.1 text-to-video diffusion transformer: {@link io.kinema.diffusion.wan.WanTransformer3D}
 * (diffusers' {@code WanTransformer3DModel}, same parameter names and numerics), its {@link
 * io.kinema.diffusion.wan.WanConfig} ({@code config.json}), the original-repository key names
 * ({@link io.kinema.diffusion.wan.WanKeys}), the 3-d rotary tables ({@link
 * io.kinema.diffusion.wan.WanRope}) and an activation-memory estimate ({@link
 * io.kinema.diffusion.wan.ActivationMemory}). The specification is {@code shared/spec/wan-dit.md};
 * parity tests run against the golden tensors in {@code shared/golden/wan_tiny}.
 */
package io.kinema.diffusion.wan;
