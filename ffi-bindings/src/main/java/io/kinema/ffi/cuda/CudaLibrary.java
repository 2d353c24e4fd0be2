package io.kinema.ffi.cuda;

import io.kinema.ffi.NativeLibrary;

/**
 * The NVIDIA libraries the CUDA backend uses, each optional and found on first use. Each is looked
 * for in {@link NativeLibrary}'s order, extended with the places NVIDIA's packages install to:
 *
 * <ol>
 *   <li>the explicit setting: {@code -Dkinema.<id>.path} or {@code KINEMA_<ID>_PATH} (ids {@code
 *       cuda}, {@code cublas}, {@code cublaslt}, {@code cudnn}, {@code nccl}), a file or folder;
 *   <li>{@code LD_LIBRARY_PATH};
 *   <li>NVIDIA's Python wheels: {@code <site-packages>/nvidia/*}{@code /lib} (e.g. {@code
 *       nvidia/cublas/lib}, {@code nvidia/cudnn/lib}, CUDA 13's {@code nvidia/cu13/lib}) in every
 *       site-packages folder of {@link NativeLibrary#SITE_PACKAGES} ({@code $VIRTUAL_ENV}, {@code
 *       $CONDA_PREFIX}, {@code ~/.local}, pyenv, {@code /usr/local/lib/python3.*}, the system's);
 *   <li>the CUDA toolkit: {@code $CUDA_HOME/lib64}, {@code $CUDA_PATH/lib64}, {@code
 *       $CONDA_PREFIX/lib}, {@code /usr/local/cuda/lib64}, then {@code /usr/local/cuda-*}{@code
 *       /lib64} newest version first;
 *   <li>the standard folders ({@code /usr/lib/x86_64-linux-gnu}, {@code /usr/lib64}, ...; for the
 *       driver also the NVIDIA container runtime's {@code /usr/local/nvidia/lib64} and WSL's {@code
 *       /usr/lib/wsl/lib});
 *   <li>the dynamic loader by name ({@code ld.so.cache}).
 * </ol>
 *
 * Within a folder, newer sonames are tried first ({@code libcublas.so.13} before {@code .12}). The
 * libraries are independent: cuBLAS does not need cuDNN. The driver is the only one that needs a
 * GPU to be useful; the others load anywhere but fail on their first call without one.
 */
public enum CudaLibrary {
  /** The CUDA driver API, {@code libcuda.so.1}, installed with the NVIDIA driver. */
  DRIVER(
      NativeLibrary.builder("cuda")
          .names("libcuda.so.1")
          .requiredSymbol("cuInit")
          // The NVIDIA container runtime mounts the driver's libraries here; WSL has its own
          // folder.
          .folders("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/wsl/lib")
          .hint(
              "libcuda.so.1 comes with the NVIDIA driver (in a container: run it with the NVIDIA"
                  + " container toolkit, e.g. docker run --gpus all).")),
  /** cuBLAS: {@code libcublas.so.13} (CUDA 13) or {@code .12} (CUDA 12). */
  CUBLAS(
      NativeLibrary.builder("cublas")
          .names("libcublas.so.13", "libcublas.so.12", "libcublas.so")
          .requiredSymbol("cublasCreate_v2")
          .hint(
              "Install cuBLAS: pip install nvidia-cublas-cu12 (CUDA 12) or nvidia-cublas (CUDA 13),"
                  + " or the CUDA toolkit's libcublas package.")),
  /** cuBLASLt: {@code libcublasLt.so.13} or {@code .12}, shipped beside cuBLAS. */
  CUBLASLT(
      NativeLibrary.builder("cublaslt")
          .names("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so")
          .requiredSymbol("cublasLtCreate")
          .hint(
              "cuBLASLt ships with cuBLAS: pip install nvidia-cublas-cu12 (CUDA 12) or"
                  + " nvidia-cublas (CUDA 13).")),
  /** cuDNN: {@code libcudnn.so.9} or {@code .8}. */
  CUDNN(
      NativeLibrary.builder("cudnn")
          .names("libcudnn.so.9", "libcudnn.so.8", "libcudnn.so")
          .requiredSymbol("cudnnCreate")
          .hint("Install cuDNN: pip install nvidia-cudnn-cu12 (or nvidia-cudnn-cu13).")),
  /** NCCL: {@code libnccl.so.2}. */
  NCCL(
      NativeLibrary.builder("nccl")
          .names("libnccl.so.2", "libnccl.so")
          .requiredSymbol("ncclGetVersion")
          .hint("Install NCCL: pip install nvidia-nccl-cu12 (or nvidia-nccl-cu13)."));

  private final NativeLibrary library;

  CudaLibrary(NativeLibrary.Builder builder) {
    this.library =
        builder
            .sitePackages("nvidia/*/lib")
            .toolkitFolders(
                "$CUDA_HOME/lib64",
                "$CUDA_PATH/lib64",
                "$CONDA_PREFIX/lib",
                "/usr/local/cuda/lib64",
                "/usr/local/cuda-*/lib64")
            .build();
  }

  /** The library's description: search, location, symbols. */
  public NativeLibrary library() {
    return library;
  }

  /** Whether the library was found and loaded (searches on the first call). */
  public boolean isAvailable() {
    return library.isAvailable();
  }

  /** What was looked for where, when unavailable (several lines); null when available. */
  public String unavailableReason() {
    return library.unavailableReason();
  }

  /** The same in one line; null when available. */
  public String shortReason() {
    return library.shortReason();
  }
}
