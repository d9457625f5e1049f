#!/usr/bin/env bash
# dgcode's build of libllama: the llama.cpp that the installed llama-cpp-python vendors, with dgcode's patches.
#
#   kernels/llama/build.sh OUT_DIR [SDIST.tar.gz]
#
# Downloads the sdist of the installed llama-cpp-python version (the same llama.cpp commit its ctypes
# bindings were written for; pass SDIST to skip the download), applies kernels/llama/*.patch, builds the
# shared libraries with CMake (CMAKE_ARGS passes through, as for llama-cpp-python itself, e.g.
# CMAKE_ARGS=-DGGML_CUDA=on) and installs them into OUT_DIR with a record, dgcode-libllama.json, of the
# version, the patches' sha256 and the build. `dgcode kernels build` runs this; dgcode's engine then loads
# OUT_DIR through LLAMA_CPP_LIB_PATH (dgcode/engine/libllama.py). PYTHON: the interpreter whose
# llama-cpp-python is matched (default: python3).
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR [SDIST.tar.gz]}
sdist=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
version=$("$python" -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
work=$(mktemp -d "${TMPDIR:-/tmp}/dgcode-libllama.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -z "$sdist" ]; then
    echo "downloading the llama-cpp-python $version sdist (its vendored llama.cpp)"
    "$python" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
    sdist=$(ls "$work"/llama_cpp_python-*.tar.gz)
fi
tar -xzf "$sdist" -C "$work"
src=$(ls -d "$work"/llama_cpp_python-*/vendor/llama.cpp)
patches=("$here"/*.patch)
for p in "${patches[@]}"; do
    echo "applying $(basename "$p")"
    patch --quiet --forward -p1 -d "$src" < "$p"
done

echo "building libllama (CMAKE_ARGS: ${CMAKE_ARGS:-none})"
# shellcheck disable=SC2086  # CMAKE_ARGS is a list of flags, as llama-cpp-python reads it
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_CURL=OFF -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON '-DCMAKE_INSTALL_RPATH=$ORIGIN' \
    ${CMAKE_ARGS:-} > "$work/cmake.log" 2>&1 || { tail -20 "$work/cmake.log"; exit 1; }
cmake --build "$work/build" --target llama --parallel "$(nproc 2>/dev/null || echo 2)" > "$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; exit 1; }

staged="$out.partial"
rm -rf "$staged"
mkdir -p "$staged"
find "$work/build" \( -name 'lib*.so*' -o -name 'lib*.dylib' \) -exec cp -P {} "$staged"/ \;
[ -e "$staged/libllama.so" ] || [ -e "$staged/libllama.dylib" ] || { echo "no libllama was built"; exit 1; }
patch_sha=$(cat "${patches[@]}" | sha256sum | cut -d' ' -f1)
cat > "$staged/dgcode-libllama.json" <<EOF
{"llama_cpp_python": "$version", "patches_sha256": "$patch_sha", "cmake_args": "${CMAKE_ARGS:-}",
 "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"}
EOF
rm -rf "$out"
mv "$staged" "$out"  # the folder gets its name only complete
echo "installed into $out"
