//===- moec_ext.cpp - the runtime loader for Python (pybind11) ------------===//
//
// moec._moec: the loader of moe/Runtime/Loader.h over numpy-compatible
// buffers. A Library opens a compiled library; a Checkpoint maps a
// safetensors file or views a dict of arrays in place (kept alive by the
// checkpoint); a Bound entry keeps both alive and runs forward and the
// routing statistics with the GIL released. Every failure raises
// moec.Error with the loader's message. The Python wrappers in
// moec/__init__.py add torch tensors, compiling and summaries.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Loader.h"
#include "moe/Runtime/RoutingSummary.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <stdexcept>

namespace py = pybind11;
using namespace moe;
using namespace moe::runtime;

namespace {
struct MoecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PyLibrary {
  std::unique_ptr<Library> library;
};

struct PyCheckpoint {
  std::unique_ptr<Checkpoint> checkpoint;
  /// The arrays a checkpoint of memory views.
  std::vector<py::object> keepAlive;
};

/// `value`, or moec.Error with `message` when it is null.
template <typename T> T orRaise(T value, const std::string &message) {
  if (!value)
    throw MoecError(message);
  return value;
}

struct PyBound {
  std::shared_ptr<PyLibrary> library;
  std::shared_ptr<PyCheckpoint> checkpoint;
  std::unique_ptr<BoundEntry> bound;
  std::unique_ptr<BoundEntry> stats;
};

/// A safetensors dtype spelling ("F32", "BF16", ...).
DType parseDType(const std::string &name) {
  DType dtype;
  if (!dtypeFromName(name, dtype))
    throw MoecError("unknown dtype '" + name + "'");
  return dtype;
}

py::dict describeEntry(const Entry &entry) {
  py::dict d;
  d["name"] = entry.name;
  d["kind"] = entry.kind;
  d["hidden"] = entry.hidden;
  d["stats_of"] = entry.statsOf;
  d["ranks"] = entry.ranks;
  d["token_id_bound"] = entry.tokenIdBound;
  d["target"] = entry.target == MOE_TARGET_CUDA ? "cuda" : "cpu";
  py::list weights;
  for (const WeightSlot &slot : entry.weights) {
    py::dict w;
    w["name"] = slot.name;
    w["shape"] = slot.shape;
    w["checkpoint_shape"] = slot.checkpointShape();
    w["stacked"] = slot.stacked;
    w["experts"] = py::make_tuple(slot.expertBegin, slot.expertEnd);
    w["dtype"] = slot.dtype;
    weights.append(w);
  }
  d["weights"] = weights;
  return d;
}

py::dict bindStatsDict(const BindStats &stats) {
  py::dict d;
  d["slots"] = stats.slots;
  d["seconds"] = stats.seconds;
  d["mapped_bytes"] = stats.mappedBytes;
  d["read_bytes"] = stats.readBytes;
  d["in_place_bytes"] = stats.inPlaceBytes;
  d["packed_bytes"] = stats.packedBytes;
  d["peak_resident_bytes"] = stats.peakResidentBytes;
  return d;
}

py::dict summaryDict(const RoutingSummary &s) {
  py::dict d;
  d["experts"] = s.experts;
  d["tokens"] = s.tokens;
  d["load"] = s.load;
  d["slots"] = s.slots;
  d["min_load"] = s.minLoad;
  d["median_load"] = s.medianLoad;
  d["max_load"] = s.maxLoad;
  d["idle_experts"] = s.idle;
  d["busiest_experts"] = s.busiest;
  d["entropy_over_log_e"] = s.entropyOverLogE;
  d["largest_share"] = s.largestShare;
  d["mean_router_confidence"] = s.meanRouterConfidence;
  d["aux_loss"] = s.auxLoss;
  d["largest_token_fraction"] = s.largestTokenFraction;
  d["collapse_fraction"] = s.collapseFraction;
  d["collapsed"] = s.collapsed;
  d["collapse_reason"] = s.collapseReason;
  d["bucket_width"] = s.bucketWidth;
  d["histogram"] = s.histogram;
  d["weight_range"] = s.weightRange;
  d["weight_histogram"] = s.weightHistogram;
  d["text"] = formatRoutingSummary(s);
  return d;
}

using FloatRows = py::array_t<float, py::array::c_style | py::array::forcecast>;
using TokenIds = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

/// [tokens, hidden] float32 rows of `entry`.
int64_t checkRows(const FloatRows &x, const Entry &entry) {
  if (x.ndim() != 2 || x.shape(1) != entry.hidden)
    throw MoecError("entry '" + entry.name + "': input must be [tokens, " +
                    std::to_string(entry.hidden) + "] float32");
  return x.shape(0);
}
} // namespace

PYBIND11_MODULE(_moec, m) {
  m.doc() = "moec's runtime loader (see the moec package)";
  static py::exception<MoecError> error(m, "Error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const MoecError &e) {
      error(e.what());
    }
  });

  py::class_<PyLibrary, std::shared_ptr<PyLibrary>>(m, "Library")
      .def_static("open",
                  [](const std::string &path) {
                    auto lib = std::make_shared<PyLibrary>();
                    std::string message;
                    lib->library = orRaise(Library::open(path, message), message);
                    return lib;
                  })
      .def_property_readonly(
          "manifest", [](const PyLibrary &l) { return l.library->manifest(); })
      .def_property_readonly("entries", [](const PyLibrary &l) {
        py::list entries;
        for (const Entry &entry : l.library->entries())
          entries.append(describeEntry(entry));
        return entries;
      });

  py::class_<PyCheckpoint, std::shared_ptr<PyCheckpoint>>(m, "Checkpoint")
      .def_static("open",
                  [](const std::string &path) {
                    auto c = std::make_shared<PyCheckpoint>();
                    std::string message;
                    c->checkpoint =
                        orRaise(Checkpoint::open(path, message), message);
                    return c;
                  })
      // [(name, dtype, shape, buffer)]: the buffers are viewed in place,
      // C-contiguous, and kept alive by the checkpoint.
      .def_static(
          "from_buffers",
          [](const py::list &tensors, const std::string &label) {
            auto c = std::make_shared<PyCheckpoint>();
            std::vector<TensorView> views;
            for (const py::handle &item : tensors) {
              auto tuple = item.cast<py::tuple>();
              TensorView view;
              view.name = tuple[0].cast<std::string>();
              view.dtype = parseDType(tuple[1].cast<std::string>());
              view.shape = tuple[2].cast<std::vector<int64_t>>();
              py::buffer buffer = tuple[3].cast<py::buffer>();
              py::buffer_info info = buffer.request();
              // Contiguous in C order: strides fall from the last
              // dimension's itemsize.
              py::ssize_t expected = info.itemsize;
              for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
                if (info.shape[d] > 1 && info.strides[d] != expected)
                  throw MoecError(label + ": tensor '" + view.name +
                                  "' is not C-contiguous");
                expected *= info.shape[d];
              }
              view.data = static_cast<const uint8_t *>(info.ptr);
              view.bytes = static_cast<size_t>(info.size * info.itemsize);
              views.push_back(std::move(view));
              c->keepAlive.push_back(py::reinterpret_borrow<py::object>(
                  tuple[3]));
            }
            std::string message;
            c->checkpoint = orRaise(
                Checkpoint::fromMemory(std::move(views), label, message),
                message);
            return c;
          })
      .def_property_readonly("names", [](const PyCheckpoint &c) {
        std::vector<std::string> names;
        for (const auto &[name, view] : c.checkpoint->tensors())
          names.push_back(name);
        return names;
      });

  py::class_<PyBound, std::shared_ptr<PyBound>>(m, "Bound")
      .def_static(
          "bind",
          [](std::shared_ptr<PyLibrary> library, const std::string &entryName,
             std::shared_ptr<PyCheckpoint> checkpoint, int32_t threads,
             bool withStats) {
            std::string message;
            const Entry *entry = orRaise(
                library->library->findEntry(entryName, message), message);
            moe_context context = defaultContext(*entry);
            context.num_threads = threads;
            auto bound = std::make_shared<PyBound>();
            bound->library = library;
            bound->checkpoint = checkpoint;
            {
              py::gil_scoped_release release;
              bound->bound = BoundEntry::bind(
                  *entry, *checkpoint->checkpoint, message, &context);
            }
            if (!bound->bound)
              throw MoecError(message);
            const Entry *stats = library->library->findStatsEntry(entry->name);
            if (withStats && stats) {
              py::gil_scoped_release release;
              bound->stats = BoundEntry::bind(*stats, *checkpoint->checkpoint,
                                              message, &context);
            }
            if (withStats && stats && !bound->stats)
              throw MoecError(message);
            return bound;
          })
      .def_property_readonly(
          "entry",
          [](const PyBound &b) { return describeEntry(b.bound->entry()); })
      .def_property_readonly(
          "bind_stats",
          [](const PyBound &b) { return bindStatsDict(b.bound->bindStats()); })
      .def_property_readonly("has_routing_stats",
                             [](const PyBound &b) { return bool(b.stats); })
      // `token_ids`: [tokens] int32, for an entry that routes by token id.
      .def(
          "forward",
          [](const PyBound &b, const FloatRows &x, std::optional<TokenIds> ids) {
            const Entry &entry = b.bound->entry();
            int64_t tokens = checkRows(x, entry);
            BoundEntry::IO io;
            if (ids) {
              if (!entry.tokenIdBound)
                throw MoecError("entry '" + entry.name +
                                "' does not route by token id: give no ids");
              if (ids->ndim() != 1 || ids->shape(0) != tokens)
                throw MoecError("entry '" + entry.name + "': token ids must be [" +
                                std::to_string(tokens) + "], one per row");
              io.tokenIds = ids->data();
            }
            py::array_t<float> y({static_cast<py::ssize_t>(tokens),
                                  static_cast<py::ssize_t>(x.shape(1))});
            std::string message;
            bool ok;
            {
              py::gil_scoped_release release;
              ok = b.bound->forward(x.data(), y.mutable_data(), tokens, io,
                                    message);
            }
            if (!ok)
              throw MoecError(message);
            return y;
          },
          py::arg("x"), py::arg("token_ids") = py::none())
      .def("routing_stats",
           [](const PyBound &b, const FloatRows &x) {
             if (!b.stats)
               throw MoecError("entry '" + b.bound->entry().name +
                               "' has no routing statistics");
             int64_t tokens = checkRows(x, b.bound->entry());
             std::vector<float> values;
             std::string message;
             bool ok;
             {
               py::gil_scoped_release release;
               ok = b.stats->routingStats(x.data(), tokens, values, message);
             }
             if (!ok)
               throw MoecError(message);
             return summaryDict(summarizeRouting(values, tokens));
           });
}
