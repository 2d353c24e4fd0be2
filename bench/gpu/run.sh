#!/usr/bin/env bash
# Runs Kinema on a lent GPU machine from the kit of bench/gpu/make-kit.sh (no JDK or Maven there):
#
#   bench/gpu/run.sh STAGE...    in the repository root, with .gpu-kit/ beside it
#
#   info    nvidia-smi, and what Kinema finds: libraries, versions, devices (CudaInfo)
#   tests   every GPU test (@RequiresCuda: bindings, tensor ops and their CPU parity, gradient
#           parity, CUDA training steps) through JUnit's console launcher; TEST_PATTERN (a class
#           name regex) narrows them
#   bench   JMH CudaBench (bf16 GEMM 4096^3, flash attention D128 S8192 forward and backward, mul
#           vs copy bandwidth) and the training steps of TrainStepBench and WanTrainStepBench on
#           cuda:0, then bench/python/torch_peer.py cuda: PyTorch on the same GPU, same cases
#   train   the default training job (./kinema train's) on cuda:0, timed, then on the CPU
#   all     all of the above, in that order (about 10 minutes: more than one device call allows)
#
# Output goes to $OUT (the device tool's folder, else ./gpu-out): one log per stage, JUnit's XML
# reports, JMH's JSON, the loss curves. The machine's CUDA libraries are found the documented way
# (docs/GPU.md): VIRTUAL_ENV is set to python3's prefix when unset, so PyTorch's NVIDIA wheels are
# found as in a user's virtual environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kit="$root/.gpu-kit"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
[[ -f "$kit/train.jar" ]] || { echo "run.sh: no kit in $kit: run bench/gpu/make-kit.sh first and carry .gpu-kit" >&2; exit 2; }

jre="${KINEMA_GPU_JRE:-/tmp/kinema-jre}"  # unpacked once per machine
if [[ ! -x "$jre/bin/java" ]]; then
  mkdir -p "$jre" && tar -C "$jre" --strip-components=1 -xJf "$kit/jre.tar.xz"
fi
java=("$jre/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED
  --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC)
if [[ -z "${VIRTUAL_ENV:-}" ]] && command -v python3 >/dev/null; then
  VIRTUAL_ENV="$(python3 -c 'import sys; print(sys.prefix)')" && export VIRTUAL_ENV
fi

stage_info() {
  { nvidia-smi || true; "${java[@]}" -version; "${java[@]}" -cp "$kit/train.jar" io.kinema.ffi.cuda.CudaInfo; } 2>&1 |
    tee "$out/info.log"
}

stage_tests() {
  local cp="$kit/train.jar" scan=() m
  for m in "$kit"/tests-*.jar; do cp="$cp:$m"; scan+=("$m"); done
  # The GPU tests are the classes named *Cuda*Test, *Nccl*Test and *GpuTest (a few CPU tests of
  # the same names, e.g. the library search, come along).
  "${java[@]}" -Xmx32g -jar "$kit/junit-console.jar" execute --disable-banner --details=tree \
    --class-path "$cp" --scan-class-path "$(IFS=:; echo "${scan[*]}")" \
    --include-classname "${TEST_PATTERN:-.*(Cuda|Nccl|Gpu)\w*Test}" \
    --reports-dir "$out/junit" 2>&1 | tee "$out/tests.log"
}

stage_bench() {
  # CudaBench's kernels, then the two training steps on the GPU: the small transformer (per-op
  # overhead) and the Wan DiT of the training-step target (8 layers, 2,048 tokens) and one 1.3B block.
  "${java[@]}" -jar "$kit/benchmarks.jar" 'CudaBench|TrainStepBench.step|WanTrainStepBench.step' \
    -p device=cuda:0 -p checkpointing=false -p model=issue-8L,wan1.3B-1L \
    -rf json -rff "$out/cudabench.json" 2>&1 | tee "$out/cudabench.log"
  PYTHONUNBUFFERED=1 python3 "$root/bench/python/torch_peer.py" cuda 2>&1 | tee "$out/torch-cuda.md"
}

stage_train() {
  local d
  for d in cuda:0 cpu; do
    local run="/tmp/kinema-train-${d%%:*}"
    rm -rf "$run"
    local t0=$SECONDS
    "${java[@]}" -jar "$kit/train.jar" --override-output-dir "$run" --training.device "$d" \
      2>&1 | tee "$out/train-${d%%:*}.log"
    echo "train on $d: $((SECONDS - t0)) s wall" | tee -a "$out/train-${d%%:*}.log"
    cp "$run/metrics.jsonl" "$out/metrics-${d%%:*}.jsonl"
  done
}

[[ $# -gt 0 ]] || { sed -n '2,19p' "$0"; exit 2; }
stages=()
for stage in "$@"; do
  case "$stage" in
    info | tests | bench | train) stages+=("$stage") ;;
    all) stages+=(info tests bench train) ;;
    *) echo "run.sh: unknown stage '$stage' (info, tests, bench, train, all)" >&2; exit 2 ;;
  esac
done
# A failing stage does not stop the later ones (device time is scarce); the exit status says.
failed=()
for stage in "${stages[@]}"; do "stage_$stage" || failed+=("$stage"); done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run.sh: failed: ${failed[*]} (logs in $out)" >&2
  exit 1
fi
