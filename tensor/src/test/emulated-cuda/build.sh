#!/usr/bin/env bash
# Builds the emulated CUDA driver, cuBLAS, cuDNN and NCCL (one shared library, reached by each
# library's soname, see `sonames` below) from Kinema's kernels and the host emulator, into OUT_DIR:
#
#   tensor/src/test/emulated-cuda/build.sh OUT_DIR
#
# Needs g++ >= 12 (C++20, _Float16). Each kernel module is compiled alone for the host (emu.h and
# the host kinema_ptx.h of tensor/src/test/cuda replace the GPU-only parts), followed by one
# registration line per kernel its preprocessed source defines. See run-backend-emulated.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$(cd "$here/../../.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
work="$out/src"
rm -rf "$work" && mkdir -p "$work"
cp "$module"/src/main/cuda/*.h "$module"/src/main/cuda/*.cu "$work/"
cp "$module"/src/test/cuda/emu.h "$module"/src/test/cuda/kinema_ptx.h "$work/"
# The emulated libraries: one source each, all linked into one .so that every soname points at.
libraries=(driver cublas cublaslt cudnn nccl)
sonames=(libcuda.so.1 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2)
cp "$here"/registry.h "$here"/elements.h "$work/"
for lib in "${libraries[@]}"; do cp "$here/$lib.cpp" "$work/"; done

flags=(-std=c++20 -O2 -ffp-contract=off -pthread -fPIC -I"$work")
build_module() {
  local cu="$1" name tu
  name="$(basename "$cu" .cu)"
  tu="$work/module_$name.cpp"
  {
    echo "#include \"$name.cu\""
    echo "#include \"registry.h\""
    g++ "${flags[@]}" -E -x c++ "$cu" \
      | grep -oE 'extern "C" +void +kinema_[a-z0-9_]+' | awk '{print "KINEMA_EMU_KERNEL(" $NF ")"}' | sort -u
  } > "$tu"
  g++ "${flags[@]}" -c "$tu" -o "$work/module_$name.o"
}
pids=()
for cu in "$work"/*.cu; do
  build_module "$cu" &
  pids+=($!)
  if [[ ${#pids[@]} -ge 2 ]]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
for lib in "${libraries[@]}"; do g++ "${flags[@]}" -c "$work/$lib.cpp" -o "$work/lib_$lib.o"; done
g++ -shared -pthread -o "$out/libkinema-emulated-cuda.so" "$work"/module_*.o "$work"/lib_*.o
for soname in "${sonames[@]}"; do ln -sf libkinema-emulated-cuda.so "$out/$soname"; done
# The deferred mode (KINEMA_EMU_DEFERRED=1) checked against the driver API's rules, in milliseconds.
g++ "${flags[@]}" -o "$work/deferred_check" "$here/deferred_check.cpp" "$out/libkinema-emulated-cuda.so"
"$work/deferred_check"
echo "emulated ${sonames[*]} in $out ($(grep -c KINEMA_EMU_KERNEL "$work"/module_*.cpp | awk -F: '{s += $2} END {print s}') kernels)"
