/**
 * Safetensors checkpoints, the weight format of Hugging Face models (diffusers' Wan models among
 * them): {@link io.kinema.tensor.io.SafetensorsFile} reads one file lazily and zero-copy where it
 * can, {@link io.kinema.tensor.io.SafetensorsCheckpoint} reads a single file or a sharded
 * checkpoint (an index plus shards), and {@link io.kinema.tensor.io.Safetensors} saves files and
 * sharded checkpoints atomically. Every inconsistency in a file is a {@link
 * io.kinema.tensor.io.SafetensorsException} naming the file and the tensor.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON {@code {"__metadata__":
 * {str: str}, "name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}}, then
 * the data section, which the tensors (row-major, little-endian) tile exactly.
 */
package io.kinema.tensor.io;
