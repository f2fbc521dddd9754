//===- CudaLibraryTest.cpp - the loader and moe-run on a CUDA library -----===//
//
// FakeCudaLibrary.c (a "cuda" manifest, a bf16 weight, entries on the
// embedded CUDA runtime) through the loader and through moe-run: the
// target is read and the context checked against it, f32 checkpoint values
// are rounded to bf16 for the unpacked slot, and a device failure comes
// back with the library's words. Without a driver (this project's build
// machines) bind fails with "no CUDA driver"; with one and a GPU, the
// entry runs. moe-run is also run on the fake driver (FakeCudaDriver.c as
// libcuda.so.1 on LD_LIBRARY_PATH), where the whole CUDA path runs on the
// host.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Loader.h"
#include "moe/Support/Npy.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace moe;

namespace {

std::string scratch(const std::string &name) {
  static const std::string dir = [] {
    std::string path =
        ::testing::TempDir() + "moe-cuda-library-" + std::to_string(getpid());
    std::string command = "mkdir -p '" + path + "'";
    EXPECT_EQ(std::system(command.c_str()), 0);
    return path;
  }();
  return dir + "/" + name;
}

/// The driver's absence on this machine, as dlopen words it; empty when
/// there is a driver.
std::string noDriverReason() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver) {
    dlclose(driver);
    return "";
  }
  return dlerror();
}

/// A checkpoint of the entry's weight in f32 (the slot is bf16: the loader
/// rounds to nearest even, 1 + 3/256 up to 1 + 4/256 and the tie 2 + 2/256
/// down to 2) and an input of two tokens.
void writeInputs(const std::string &weights, const std::string &input) {
  float scale[4] = {1.01171875f, 2.0078125f, 0.5f, -3.0f};
  TensorData tensor;
  tensor.shape = {4};
  tensor.bytes.resize(sizeof scale);
  std::memcpy(tensor.bytes.data(), scale, sizeof scale);
  std::string error;
  ASSERT_TRUE(writeSafeTensors(weights, {{"scale.weight", tensor}}, error))
      << error;
  NpyArray x{{2, 4}, {1, 1, 1, 1, 0.25f, -1, 8, 2}};
  ASSERT_TRUE(writeNpy(input, x, error)) << error;
}

const std::vector<float> kExpected = {1.015625f,   2,  0.5f, -3,
                                      0.25390625f, -2, 4,    -6};

struct ToolRun {
  int status;
  std::string out, err;
};

/// Runs moe-run with `arguments`, after `environment` (VAR=value ...).
ToolRun runMoeRun(const std::string &arguments,
                  const std::string &environment = "") {
  std::string out = scratch("stdout"), err = scratch("stderr");
  std::string command = environment + " " MOEC_MOE_RUN " " + arguments + " >'" +
                        out + "' 2>'" + err + "'";
  int raw = std::system(command.c_str());
  auto read = [](const std::string &path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  };
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read(out), read(err)};
}

// Tests that the loader opens a "cuda" library, tells its target, reads
// its unpacked bf16 slot, checks a context against the target, and that
// bind either runs the entry (a driver and a GPU) or fails with the
// library's "no CUDA driver" message and MOE_STATUS_DEVICE.
TEST(CudaLibrary, LoaderBindsOrSaysWhy) {
  std::string error;
  auto library = runtime::Library::open(MOEC_FAKE_CUDA_LIBRARY, error);
  ASSERT_NE(library, nullptr) << error;
  EXPECT_EQ(library->target(), MOE_TARGET_CUDA);
  const runtime::Entry *entry = library->findEntry("", error);
  ASSERT_NE(entry, nullptr) << error;
  EXPECT_EQ(entry->target, MOE_TARGET_CUDA);
  EXPECT_EQ(entry->weights[0].dtype, "bf16");
  EXPECT_NE(entry->errorMessage, nullptr);

  std::string weights = scratch("w.safetensors"), input = scratch("x.npy");
  writeInputs(weights, input);
  auto checkpoint = Checkpoint::open(weights, error);
  ASSERT_NE(checkpoint, nullptr) << error;

  moe_context cpu;
  moe_context_init_cpu(&cpu);
  int32_t status = -1;
  EXPECT_EQ(
      runtime::BoundEntry::bind(*entry, *checkpoint, error, &cpu, &status),
      nullptr);
  EXPECT_EQ(error, "context: target 0; the library's is MOE_TARGET_CUDA (a "
                   "cuda library)");
  EXPECT_EQ(status, MOE_STATUS_OK);

  // No context: device 0 of the CUDA target.
  auto bound =
      runtime::BoundEntry::bind(*entry, *checkpoint, error, nullptr, &status);
  std::string why = noDriverReason();
  if (!why.empty()) {
    EXPECT_EQ(bound, nullptr);
    EXPECT_EQ(status, MOE_STATUS_DEVICE);
    EXPECT_EQ(error,
              "no CUDA driver (libcuda.so.1 could not be loaded: " + why + ")");
    return;
  }
  if (!bound) {
    EXPECT_EQ(error, "no GPU (the CUDA driver sees no device)");
    GTEST_SKIP() << "a driver but no GPU";
  }
  EXPECT_EQ(bound->context().target, MOE_TARGET_CUDA);
  NpyArray x;
  ASSERT_TRUE(readNpy(input, x, error)) << error;
  std::vector<float> y(8, 0.0f);
  ASSERT_TRUE(bound->forward(x.data.data(), y.data(), 2, error)) << error;
  EXPECT_EQ(y, kExpected);
}

// Tests moe-run on a CUDA library without a driver: the library's reason,
// after the library's name, and exit 1; and that --threads is refused for
// a CUDA library.
TEST(CudaLibrary, MoeRunWithoutDriver) {
  std::string why = noDriverReason();
  if (why.empty())
    GTEST_SKIP() << "this machine has a CUDA driver";
  std::string weights = scratch("w.safetensors"), input = scratch("x.npy");
  writeInputs(weights, input);
  ToolRun run = runMoeRun(std::string(MOEC_FAKE_CUDA_LIBRARY) + " --weights " +
                          weights + " --input " + input);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, std::string("moe-run: error: ") + MOEC_FAKE_CUDA_LIBRARY +
                         ": no CUDA driver (libcuda.so.1 could not be "
                         "loaded: " +
                         why + ")\n");
  EXPECT_EQ(run.out, "");
  run = runMoeRun(std::string(MOEC_FAKE_CUDA_LIBRARY) + " --weights " +
                  weights + " --input " + input + " --threads 2");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, std::string("moe-run: error: --threads: ") +
                         MOEC_FAKE_CUDA_LIBRARY +
                         " is a CUDA library (target 'cuda'); --threads "
                         "applies to CPU libraries\n");
}

// Tests moe-run's whole CUDA path on the fake driver: the context, the
// bf16 weight, the forward through device memory and the output; and that
// --device is checked by the library against the devices the driver sees.
TEST(CudaLibrary, MoeRunOnFakeDriver) {
  std::string weights = scratch("w.safetensors"), input = scratch("x.npy"),
              output = scratch("y.npy");
  writeInputs(weights, input);
  std::string environment =
      std::string("LD_LIBRARY_PATH=") + MOEC_FAKE_CUDA_DRIVER_DIR;
  std::string common = std::string(MOEC_FAKE_CUDA_LIBRARY) + " --weights " +
                       weights + " --input " + input;
  ToolRun run =
      runMoeRun(common + " --output " + output + " --repeat 3", environment);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("entry scale: 2 tokens, hidden 4, 1 weight slots"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("over 3 runs"), std::string::npos) << run.out;
  NpyArray y;
  std::string error;
  ASSERT_TRUE(readNpy(output, y, error)) << error;
  EXPECT_EQ(y.data, kExpected);

  run = runMoeRun(common + " --device 3", environment);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, std::string("moe-run: error: ") + MOEC_FAKE_CUDA_LIBRARY +
                         ": device 3 is out of range (1 devices)\n");
}

// Tests that a "cuda" manifest may keep unpacked slots in bf16 (the CUDA
// target's weight rows) while a "cpu" one may not, and that each entry
// carries its library's target.
TEST(CudaLibrary, ManifestTargets) {
  std::string manifest = R"({"format": 4, "target": "cuda", "entries": [
    {"name": "layer", "kind": "forward", "hidden": 8,
     "symbols": {"init": "moe_entry_layer_init",
                 "forward": "moe_entry_layer_forward",
                 "destroy": "moe_entry_layer_destroy"},
     "weights": [
      {"name": "gate", "shape": [4, 8], "dtype": "bf16", "layout": "single"},
      {"name": "e.{e}.w1", "shape": [4, 6, 8], "dtype": "bf16",
       "layout": "stacked", "experts": [0, 4]}]}]})";
  std::vector<runtime::Entry> entries;
  std::string error;
  bool foreign = true;
  ASSERT_TRUE(runtime::parseManifest(manifest, entries, error, &foreign))
      << error;
  EXPECT_FALSE(foreign);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].target, MOE_TARGET_CUDA);
  EXPECT_EQ(entries[0].weights[0].dtype, "bf16");
  EXPECT_EQ(entries[0].weights[1].dtype, "bf16");

  std::string cpu = manifest;
  cpu.replace(cpu.find("\"cuda\""), 6, "\"cpu\"");
  entries.clear();
  EXPECT_FALSE(runtime::parseManifest(cpu, entries, error, &foreign));
  EXPECT_FALSE(foreign);
  EXPECT_EQ(error, "entry 'layer' weight 'gate': dtype 'bf16' is not one the "
                   "runtime binds (f32, bf16 when packed or in a cuda "
                   "library, i32 for an expert table)");
  std::string f16 = manifest;
  f16.replace(f16.find("\"bf16\""), 6, "\"f16\"");
  EXPECT_FALSE(runtime::parseManifest(f16, entries, error, &foreign));
  EXPECT_EQ(error.find("entry 'layer' weight 'gate': dtype 'f16'"), 0u)
      << error;
}

} // namespace
