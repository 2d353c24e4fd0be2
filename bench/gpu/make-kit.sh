#!/usr/bin/env bash
# Builds .gpu-kit/ in the repository root: what a lent GPU machine needs to run Kinema's GPU tests,
# benchmarks and a training job there. That machine has the NVIDIA driver, CUDA libraries, PyTorch
# and Python, but no JDK, no Maven and no network, and at most 64 MiB travel with the working tree
# (the `device` tool's limits), so the kit is a jlinked Java 25 runtime (xz, ~16 MB) plus jars:
#
#   jre.tar.xz         the runtime: the modules jdeps finds in the jars below
#   train.jar          the trainer with every Kinema module (PTX included) and its dependencies
#   benchmarks.jar     the JMH benchmarks (CudaBench)
#   junit-console.jar  JUnit's console launcher, which runs the GPU tests without Maven
#   tests-<module>.jar the test classes of each module that has GPU tests
#
# Run bench/gpu/run.sh there (see its header). .gpu-kit/ is git-ignored; name it in the device
# tool's `carry`. Needs nvcc here: without PTX in the jars the GPU tests would only test a failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kit="$root/.gpu-kit"
junit_version="$(sed -n 's:.*<junit.version>\(.*\)</junit.version>.*:\1:p' "$root/pom.xml")"
test_modules=(ffi-bindings tensor autograd train)

cd "$root"
# package compiles the tests too (-DskipTests only skips running them).
./kinema mvn -q package -DskipTests -Dspotless.check.skip=true -pl train,bench -am
listing="$(unzip -l train/target/train.jar)"
if [[ "$listing" != *io/kinema/tensor/cuda/ptx/attention.ptx* ]]; then
  echo "make-kit: train.jar has no PTX (is nvcc on PATH?); the kit would be useless on a GPU" >&2
  exit 1
fi

rm -rf "$kit" && mkdir -p "$kit"
cp train/target/train.jar bench/target/benchmarks.jar "$kit/"
./kinema mvn -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit_version" \
  -DoutputDirectory="$kit" -Dmdep.stripVersion=true
mv "$kit/junit-platform-console-standalone.jar" "$kit/junit-console.jar"
java_home="$(./kinema java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')"
for m in "${test_modules[@]}"; do
  "$java_home/bin/jar" --create --file "$kit/tests-$m.jar" -C "$m/target/test-classes" .
done

# The runtime: every module the jars use (jdeps), plus those found by service lookup, which jdeps
# cannot see: jdk.zipfs (JUnit scans the test jars as file systems), jdk.management (JMH's
# profilers).
modules="$("$java_home/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 \
  "$kit/train.jar" "$kit/benchmarks.jar" "$kit/junit-console.jar" "$kit"/tests-*.jar 2>/dev/null | tail -1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for m in jdk.zipfs jdk.management; do [[ ",$modules," == *,$m,* ]] || modules="$modules,$m"; done
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages \
  --no-header-files --output "$tmp/jre" 2> >(grep -v 'incubator modules' >&2)
tar -C "$tmp" -cJf "$kit/jre.tar.xz" jre

echo "GPU kit in $kit ($(du -sh "$kit" | cut -f1); runtime modules: $modules):"
ls -l "$kit"
