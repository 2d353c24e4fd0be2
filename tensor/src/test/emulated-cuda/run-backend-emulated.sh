#!/usr/bin/env bash
# Runs the CUDA backend's GPU tests (@RequiresCuda) on a machine without a GPU, against the
# emulated driver, cuBLAS and cuBLASLt of this folder (build.sh): the backend's host code runs for
# real — allocator, staging copies, launches with their argument blocks, cuBLAS and cuBLASLt calls
# — and the kernels run on the host emulator. It checks logic, not speed, and not the GPU's own compiler.
#
#   tensor/src/test/emulated-cuda/run-backend-emulated.sh [TEST_PATTERN]
#
# TEST_PATTERN: surefire's -Dtest (default: every CUDA test of tensor and autograd).
# The emulated driver shows KINEMA_EMU_DEVICES devices (2 here unless set: the NCCL tests need two),
# and runs in deferred mode (KINEMA_EMU_DEFERRED=1 unless set: queued work runs only where CUDA
# guarantees completion, so a missing synchronization shows; see driver.cpp). KINEMA_EMU_DEFERRED=0
# runs everything at the call.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
out="$root/tensor/target/emulated-cuda"
"$here/build.sh" "$out"
tests="${1:-io/kinema/tensor/cuda/Cuda*Test,io/kinema/tensor/distributed/Nccl*Test,io/kinema/autograd/Cuda*Test}"
cd "$root"
export KINEMA_EMU_DEVICES="${KINEMA_EMU_DEVICES:-2}"
export KINEMA_EMU_DEFERRED="${KINEMA_EMU_DEFERRED:-1}"
./kinema mvn -q -pl tensor,autograd -am test -Dtest="$tests" \
  -Dsurefire.failIfNoSpecifiedTests=false -Dspotless.check.skip=true \
  "-Dsurefire.extraArgs=-Xmx4g -Dkinema.cuda.path=$out -Dkinema.cublas.path=$out -Dkinema.cublaslt.path=$out -Dkinema.cudnn.path=$out -Dkinema.nccl.path=$out"
# Maven ran quietly: one line saying what passed (a failure stops the script above, with its report).
reports=(tensor/target/surefire-reports/*.txt autograd/target/surefire-reports/*.txt)
newer=()
for r in "${reports[@]}"; do [[ "$r" -nt "$out/libcuda.so.1" ]] && newer+=("$r"); done
if [[ ${#newer[@]} -gt 0 ]]; then
  grep -h "Tests run" "${newer[@]}" | awk '{t += $3; s += $9} END {
    printf "emulated CUDA tests: %d run, %d skipped, all passed\n", t, s }'
fi
