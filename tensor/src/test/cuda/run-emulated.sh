#!/usr/bin/env bash
# Runs Kinema's CUDA kernels on the host emulator (emu.h) against references, for machines
# without a GPU. Needs g++ >= 12 (C++20, _Float16) and, for the random-stream test, the tensor
# module built (./kinema mvn -q -pl tensor -am compile) and JDK 25.
#
#   tensor/src/test/cuda/run-emulated.sh [TEST...]     TEST: random elementwise reduce rows
#                                                      attention (default: all)
#
# The kernels are compiled unchanged, except that kinema_ptx.h (the inline-PTX layer) is swapped
# for this folder's host version.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$(cd "$here/../../.." && pwd)"
work="${TMPDIR:-/tmp}/kinema-emu"
mkdir -p "$work/src"
cp "$module"/src/main/cuda/*.h "$module"/src/main/cuda/*.cu "$work/src/"
cp "$here/emu.h" "$here/kinema_ptx.h" "$work/src/"

tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(random elementwise reduce rows attention)

build() {
  g++ -std=c++20 -O2 -ffp-contract=off -pthread -I"$work/src" "$here/test_$1.cpp" -o "$work/test_$1"
}

for t in "${tests[@]}"; do
  echo "== $t"
  build "$t"
  if [[ "$t" == random ]]; then
    java="${JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -1)}/bin/java"
    cp="$module/target/classes:$module/../ffi-bindings/target/classes"
    cp="$cp:$(ls "$HOME"/.m2/repository/com/google/code/gson/gson/*/gson-*.jar | head -1)"
    rm -rf "$work/random" && mkdir -p "$work/random"
    "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$cp" \
      "$here/RandomCases.java" "$work/random" 2>&1 | grep -v "^WARNING: Using incubator"
    "$work/test_random" "$work/random"
    bad=0
    while read -r name _; do
      cmp -s "$work/random/$name.expected" "$work/random/$name.actual" || {
        echo "MISMATCH $name: $(grep "^$name " "$work/random/cases.txt")"
        bad=$((bad + 1))
      }
    done < "$work/random/cases.txt"
    [[ $bad -eq 0 ]] && echo "random: every case bit-identical to the CPU stream" || exit 1
  else
    "$work/test_$t"
  fi
done
