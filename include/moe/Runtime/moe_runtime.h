/*===- moe_runtime.h - the C ABI of libraries compiled by moe-compile -----===*
 *
 * ABI version 3, manifest format 3. A library compiled by
 * `moe-compile --target=cpu` exports:
 *
 *   const char *moe_module_manifest(void);
 *
 * a JSON document (format below), and for each entry point three functions,
 * named in the manifest:
 *
 *   int32_t moe_entry_<name>_init(const moe_context *ctx,
 *                                 const moe_weight_buffer *weights,
 *                                 int64_t num_weights, void **state);
 *   int32_t moe_entry_<name>_forward(void *state,
 *                                    const moe_forward_args *args);
 *   void    moe_entry_<name>_destroy(void *state);
 *
 * `init` checks the context (abi_version MOE_ABI_VERSION, target
 * MOE_TARGET_CPU, 0 <= rank < size, 0 <= num_threads <= 1024, both
 * allocator hooks or neither), then the weights against what the entry was
 * compiled for: `num_weights` must be the entry's slot count and each
 * buffer, in manifest order, must have the slot's dtype, rank and shape and
 * non-null data. Any mismatch returns its MOE_STATUS_* (never crashes) and
 * leaves `*state` NULL. On success `*state` holds a state allocated through
 * the context's hook (malloc without one) that keeps the weight pointers,
 * the thread count and the free hook: the weights must outlive the state,
 * the context need not. `forward` runs the entry: `args->input` and
 * `args->output` are [tokens, hidden] row-major float32, or bf16 with
 * `io_dtype` MOE_DTYPE_BF16 (a routing-statistics entry writes its
 * "outputs" floats to `output` whatever `tokens` is), 0 <= tokens; an
 * `io_dtype` of neither, `io_on_device` set on a CPU library, a null
 * state or args, a `struct_size` below MOE_FORWARD_ARGS_MIN_SIZE, a
 * negative token count or a null buffer that would be read or written is
 * MOE_STATUS_INVALID_ARGUMENT. With a thread
 * count, forward sizes the OpenMP team of the calling thread to it first
 * (0: OpenMP's default, OMP_NUM_THREADS or one per core); each output
 * element is summed in the same order on any count, so results are the
 * same bits. `destroy` frees the state (NULL is allowed). A state may be
 * used by one forward at a time; distinct states are independent.
 * moe_status_string() names every status.
 *
 * Weights are typed (moe_weight_buffer): MOE_DTYPE_F32 values, or
 * MOE_DTYPE_BF16 16-bit values (the upper half of an f32, what a "bf16"
 * slot holds), each buffer a dense row-major tensor of the slot's "shape";
 * 64-byte aligned for speed (moe/Support/AlignedBuffer.h). The loader
 * (moe/Runtime/Loader.h) builds them from checkpoints; a program with its
 * own weights may call the functions directly, filling a context with
 * moe_context_init_cpu().
 *
 * A library compiled by `moe-compile --target=cuda` has the same entry
 * functions and manifest ("target": "cuda"), and runs on the NVIDIA driver
 * API, which it loads on first use (dlopen of libcuda.so.1: the library
 * itself loads on a machine without a driver). Its init needs a context
 * of target MOE_TARGET_CUDA (moe_context_init_cuda()): `device` is the
 * device ordinal, and `stream` a CUstream to run on (NULL: a stream of the
 * library's own). One process binds a library to one device; the last
 * init's stream is the one its forwards run on. Weights come in host
 * memory, as on the CPU, and init copies them to the device. Forward
 * contract (this ABI version): `args->input` and `args->output` are
 * host pointers, as on the CPU, unless `io_on_device` makes them device
 * pointers; forward copies a host input to the device on the stream, runs
 * the kernels (the bf16 conversions of `io_dtype` among them) and returns
 * after the output is written (to the host, or on the device: the stream
 * is synchronized either way). A failure of the device or
 * of the driver (none installed, no GPU, a device out of range, a launch
 * or a copy that fails) returns MOE_STATUS_DEVICE, and the library's
 * moe_error_message() then says why, on the thread that called.
 *
 * Manifest (format 3), for example:
 *
 *   {"format": 3, "target": "cpu", "entries": [
 *     {"name": "mixtral_layer0", "kind": "forward", "hidden": 4096,
 *      "symbols": {"init": "moe_entry_mixtral_layer0_init",
 *                  "forward": "moe_entry_mixtral_layer0_forward",
 *                  "destroy": "moe_entry_mixtral_layer0_destroy"},
 *      "weights": [
 *        {"name": "model.layers.0.block_sparse_moe.experts.{e}.w1.weight",
 *         "shape": [8, 14336, 4096], "dtype": "f32", "layout": "stacked",
 *         "experts": [0, 8]},
 *        {"name": "model.layers.0.block_sparse_moe.gate.weight",
 *         "shape": [8, 4096], "dtype": "f32", "layout": "single"}]}]}
 *
 * Routing by token id (ABI version 3 since token ids, backward compatible:
 * the field was reserved): an entry whose layer routes by a table of
 * experts per token id has "token_ids": V (ids must lie in [0, V), and
 * forward reads moe_forward_args.token_ids), and its table is a "single"
 * slot of "dtype" "i32" with "index_bound": E: each value must lie in
 * [0, E), which the loader checks at bind time (from an I32 or I64
 * checkpoint tensor); the buffer is MOE_DTYPE_I32. A loader from before
 * refuses such a library ("dtype 'i32' is not one the runtime binds").
 *
 * Entries are of "kind" "forward", or "routing_stats" ("of": the forward
 * entry it describes; "outputs": E + MOE_ROUTING_STATS_TAIL floats written
 * to `output` whatever `tokens` is: the load of each expert, then entropy /
 * log E, largest share, mean router confidence and aux loss, then the
 * routing-weight histogram's upper edge and its bins).
 *
 * "stacked" slots read the checkpoint tensors named by replacing "{e}" with
 * each expert index in "experts" [begin, end) and stack them; the range is
 * the weight argument's `moe.experts = array<i64: begin, end>` attribute
 * (default [0, E)): a rank of expert parallelism binds only its experts.
 * "single" slots read one tensor of the slot's shape. A slot whose
 * checkpoint layout differs also carries "source_shape" (what the
 * checkpoint holds, stacked first), an optional "slice": [dim, offset,
 * size] and an optional "transpose" permutation, applied in that order
 * (each tensor may also be stored as "stored_shape", a reshape of it: the
 * same elements in the same order; or, with "either_orientation": true,
 * with its last two dimensions swapped, which the loader tells by shape and
 * refuses when they are equal); a
 * slot of packed weights then has "pack": [dim, P]: the viewed tensor
 * packed along `dim` in panels of P (zero past its end), as linalg.pack
 * with inner_dims_pos = [dim], inner_tiles = [P] gives (in the libraries
 * moe-compile makes, P is the micro-kernels' panel width, MOE_UKERNEL_PANEL
 * in moe/Runtime/KernelABI.h; the loader packs to the P the manifest
 * names). The result is "shape", in "dtype": "f32", or "bf16" for packed
 * slots (`moe-compile --weight-type=bf16`, or `auto` on a bf16
 * checkpoint) and for any slot of a "cuda" library (which keeps weights
 * as bf16 rows): each value the upper 16 bits of an f32, rounded to
 * nearest even at bind time.
 *
 * The loader checks all of a manifest before using any of it and refuses a
 * library whose manifest breaks these rules: "format" MOE_MANIFEST_FORMAT
 * and "target" MOE_MANIFEST_TARGET or MOE_MANIFEST_TARGET_CUDA, checked
 * first (a library of another format or target is refused as such, naming
 * both; one of an older format is told to be rebuilt); entry names of
 * letters, digits, '_', '.', '$' or '-', each once, and "symbols" exactly
 * "moe_entry_<name>_init", "_forward" and "_destroy"; "hidden" in [1, 2^18];
 * a "routing_stats" entry's "of" naming a forward entry of the same hidden
 * size (one statistics entry per forward entry) and "outputs" in [1 +
 * MOE_ROUTING_STATS_TAIL, 2^16 + MOE_ROUTING_STATS_TAIL]; slot names
 * non-empty, holding "{e}" once when stacked and never when single;
 * "experts" with 0 <= begin < end <= 2^16, the stacked source shape leading
 * with end - begin; shapes of rank <= 8 with positive sizes and at most 2^40
 * elements; "slice" within the source shape, "transpose" a permutation of
 * its rank, "pack" a dimension of it and P >= 1; and the source shape,
 * viewed, giving exactly "shape".
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_MOE_RUNTIME_H
#define MOE_RUNTIME_MOE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version a context states (moe_context.abi_version) and the manifest
 * format of the libraries this runtime loads. */
#define MOE_ABI_VERSION 3
#define MOE_MANIFEST_FORMAT 4
/* The "target" of CPU libraries, and of CUDA libraries: the loader runs
 * both (a CUDA library needs a context of MOE_TARGET_CUDA). */
#define MOE_MANIFEST_TARGET "cpu"
#define MOE_MANIFEST_TARGET_CUDA "cuda"
#define MOE_MANIFEST_SYMBOL "moe_module_manifest"
/* Entry symbols are this prefix, the entry's name and one suffix. */
#define MOE_ENTRY_SYMBOL_PREFIX "moe_entry_"
#define MOE_ENTRY_INIT_SUFFIX "_init"
#define MOE_ENTRY_FORWARD_SUFFIX "_forward"
#define MOE_ENTRY_DESTROY_SUFFIX "_destroy"
/* What a CUDA library also exports: `const char *moe_error_message(void)`,
 * why the last call on this thread failed with MOE_STATUS_DEVICE (never
 * NULL; "" when nothing failed). */
#define MOE_ERROR_MESSAGE_SYMBOL "moe_error_message"
/* Entry kinds in the manifest. */
#define MOE_ENTRY_KIND_FORWARD "forward"
#define MOE_ENTRY_KIND_ROUTING_STATS "routing_stats"
/* A routing-statistics entry writes E loads, then this many summaries
 * (entropy / log E, largest share, mean router confidence, aux loss), then
 * the upper edge R of its routing-weight histogram and the histogram:
 * MOE_ROUTING_STATS_WEIGHT_BINS counts of the selected routing weights in
 * equal bins over [0, R] (moe.routing_stats). MOE_ROUTING_STATS_TAIL is
 * everything after the loads. */
#define MOE_ROUTING_STATS_SUMMARIES 4
#define MOE_ROUTING_STATS_WEIGHT_BINS 20
#define MOE_ROUTING_STATS_TAIL                                                 \
  (MOE_ROUTING_STATS_SUMMARIES + 1 + MOE_ROUTING_STATS_WEIGHT_BINS)
/* The largest rank of a weight buffer (and of a manifest shape). */
#define MOE_MAX_RANK 8

/* moe_context.target */
enum { MOE_TARGET_CPU = 0, MOE_TARGET_CUDA = 1 };

/* moe_weight_buffer.dtype */
enum {
  MOE_DTYPE_F32 = 1,
  MOE_DTYPE_BF16 = 2,
  MOE_DTYPE_F16 = 3,
  /* int32 values: an expert table of routing by token id. */
  MOE_DTYPE_I32 = 4
};

/* What init and forward return. */
enum {
  MOE_STATUS_OK = 0,
  /* A null pointer, a negative count, a struct_size too small, a context
   * field or a token id out of range. */
  MOE_STATUS_INVALID_ARGUMENT = 1,
  /* The context states another ABI version. */
  MOE_STATUS_ABI_VERSION = 2,
  /* The context is for another target than the library's. */
  MOE_STATUS_WRONG_TARGET = 3,
  /* num_weights is not the entry's slot count. */
  MOE_STATUS_WEIGHT_COUNT = 4,
  /* A weight buffer's dtype is not its slot's. */
  MOE_STATUS_WEIGHT_DTYPE = 5,
  /* A weight buffer's rank or shape is not its slot's. */
  MOE_STATUS_WEIGHT_SHAPE = 6,
  /* The state could not be allocated. */
  MOE_STATUS_OUT_OF_MEMORY = 7,
  /* The context's ranks are not those the library was compiled for (its
   * "ranks"), or it has no communicator for them. */
  MOE_STATUS_RANKS = 8,
  /* An exchange with the other ranks failed or timed out; the
   * communicator's error_message says why. The output is not written. */
  MOE_STATUS_COMMUNICATION = 9,
  /* The device or its driver failed (no driver, no GPU, a device out of
   * range, a launch or copy that failed); a CUDA library's
   * moe_error_message() says why. */
  MOE_STATUS_DEVICE = 10,
};

/* How a library of expert parallelism moves rows between ranks. The host
 * implements it on a real engine (MPI on the CPU:
 * moe/Runtime/MPICommunicator.h) and passes it in the context; a library
 * calls it from the thread running forward, every rank the same calls in the
 * same order (collectives). Each call returns MOE_STATUS_OK or
 * MOE_STATUS_COMMUNICATION, never blocks past the implementation's deadline,
 * and after a failure error_message() says why. */
typedef struct moe_communicator {
  /* This process's rank among `size`. */
  int32_t rank;
  int32_t size;
  /* The implementation's own state, passed back to each function. */
  void *impl;
  /* Starts an all-to-all-v of bytes: send_bytes[r] bytes at send +
   * send_offsets[r] go to rank r, and recv_bytes[r] bytes from rank r land
   * at recv + recv_offsets[r] (arrays of `size`). The buffers and arrays
   * must stay untouched until wait returns; *request names the exchange. */
  int32_t (*all_to_all_start)(void *impl, const void *send,
                              const int64_t *send_bytes,
                              const int64_t *send_offsets, void *recv,
                              const int64_t *recv_bytes,
                              const int64_t *recv_offsets, void **request);
  /* Completes the exchange `request` (and frees it, even on failure). */
  int32_t (*wait)(void *impl, void *request);
  /* The last failure in words (never NULL). */
  const char *(*error_message)(void *impl);
} moe_communicator;

/* What a library runs on and with. Fill it with moe_context_init_cpu(),
 * then change what differs. */
typedef struct moe_context {
  /* MOE_ABI_VERSION. */
  int32_t abi_version;
  /* MOE_TARGET_*: the library's target. */
  int32_t target;
  /* Device index (0 on the CPU). */
  int32_t device;
  /* This process's rank among `size` ranks of expert parallelism (0 of 1
   * alone). */
  int32_t rank;
  int32_t size;
  /* Threads of each forward's parallel loops, 0 to 1024; 0 leaves OpenMP's
   * default (OMP_NUM_THREADS, or one per core). */
  int32_t num_threads;
  /* The device stream (a CUstream, or a cudaStream_t: the same handle);
   * NULL on the CPU, or for the library's own stream. */
  void *stream;
  /* The communicator of the ranks; NULL alone. A library compiled for N > 1
   * ranks needs one whose rank and size are the context's, and size N. */
  const moe_communicator *communicator;
  /* Where states and bound weights are placed: both hooks, or neither (the
   * runtime's aligned host allocation). `alloc` returns `bytes` aligned to
   * `alignment` (a power of two), or NULL; memory the loader fills must be
   * writable from the host (pinned or managed memory for a device). */
  void *(*alloc)(void *user, size_t bytes, size_t alignment);
  void (*free)(void *user, void *pointer);
  void *user;
} moe_context;

/* One weight slot's tensor, dense and row-major. */
typedef struct moe_weight_buffer {
  const void *data;
  /* MOE_DTYPE_*; a BF16 buffer holds 16-bit values, not floats. */
  int32_t dtype;
  int32_t rank;
  int64_t shape[MOE_MAX_RANK];
} moe_weight_buffer;

/* A forward call's arguments. `struct_size` is sizeof(moe_forward_args) as
 * the caller knows it: fields are only ever added at the end, a library
 * reads a field only when struct_size covers it, and a field a caller
 * does not give counts as NULL or 0. */
typedef struct moe_forward_args {
  int64_t struct_size;
  const float *input;
  float *output;
  int64_t tokens;
  /* Token ids, [tokens] int32, for an entry that routes by token id (its
   * manifest entry has "token_ids": V): needed for any token (NULL, or a
   * struct_size that does not cover the field, is
   * MOE_STATUS_INVALID_ARGUMENT), each in [0, V) (any other id is
   * MOE_STATUS_INVALID_ARGUMENT, checked before anything runs). Unread by
   * other entries. */
  const int32_t *token_ids;
  /* Where a library writes the call's seconds per phase (MOE_PHASE_*), or
   * NULL. Expert parallelism: time blocked in exchanges counts to
   * "exchange" (rows out) or "exchange back" (results back); "route" is
   * the time before the first exchange, "combine" after the last, and
   * "experts" the rest (with chunks, the phases of different chunks
   * overlap, and each second counts once). A single process of a CPU
   * library (moe-phase-marks): "route" until the dispatch begins, the
   * dispatch in "exchange", "experts", "combine" (fused experts combine as
   * they go: what follows them), "exchange back" 0. Untouched by libraries
   * that time no phases (CUDA, and a layer without a dispatch). */
  double *phase_seconds;
  /* The element type of `input` and a forward entry's `output`: 0 or
   * MOE_DTYPE_F32 for float32, MOE_DTYPE_BF16 for bf16 (16-bit values,
   * the upper half of an f32; pass a uint16_t buffer cast to the pointer
   * type); anything else is MOE_STATUS_INVALID_ARGUMENT. bf16 input is
   * widened exactly to f32, the layer computes in f32 as always, and its
   * result is rounded to bf16 (nearest even): the output of bf16 I/O is
   * the f32 run's output on the same (bf16-valued) input, rounded. A
   * routing-statistics entry writes its floats as f32 either way. The
   * conversions are generated code of the library (GPU kernels on CUDA). */
  int32_t io_dtype;
  /* Non-zero: `input` and `output` are device pointers on the library's
   * device (a CUDA library; cuMemAlloc'd or a framework's tensors, in the
   * library's context, the device's primary one) and forward copies
   * nothing to or from the host. The input must be ready for work queued
   * on the library's stream (the context's `stream`, or ordered before the
   * call), and the output is written when forward returns. A CPU library
   * refuses it (MOE_STATUS_INVALID_ARGUMENT). */
  int32_t io_on_device;
} moe_forward_args;

/* The phases of moe_forward_args.phase_seconds. */
enum {
  MOE_PHASE_ROUTE = 0,
  MOE_PHASE_EXCHANGE = 1,
  MOE_PHASE_EXPERTS = 2,
  MOE_PHASE_EXCHANGE_BACK = 3,
  MOE_PHASE_COMBINE = 4,
  MOE_PHASE_COUNT = 5,
};

/* The struct_size every forward needs: input, output and tokens. */
#define MOE_FORWARD_ARGS_MIN_SIZE 32
/* The struct_size from which io_dtype and io_on_device are read (a smaller
 * one, a caller from before them, means f32 host pointers). */
#define MOE_FORWARD_ARGS_IO_SIZE 56

typedef const char *(*moe_manifest_fn)(void);
typedef int32_t (*moe_entry_init_fn)(const moe_context *ctx,
                                     const moe_weight_buffer *weights,
                                     int64_t num_weights, void **state);
typedef int32_t (*moe_entry_forward_fn)(void *state,
                                        const moe_forward_args *args);
typedef void (*moe_entry_destroy_fn)(void *state);
typedef const char *(*moe_error_message_fn)(void);

/* A CPU context: this ABI, rank 0 of 1, OpenMP's thread count, the
 * runtime's allocation. */
static inline void moe_context_init_cpu(moe_context *ctx) {
  ctx->abi_version = MOE_ABI_VERSION;
  ctx->target = MOE_TARGET_CPU;
  ctx->device = 0;
  ctx->rank = 0;
  ctx->size = 1;
  ctx->num_threads = 0;
  ctx->stream = NULL;
  ctx->communicator = NULL;
  ctx->alloc = NULL;
  ctx->free = NULL;
  ctx->user = NULL;
}

/* A CUDA context: as moe_context_init_cpu(), for device ordinal `device`
 * (the library checks it against the devices the driver sees) and the
 * library's own stream. */
static inline void moe_context_init_cuda(moe_context *ctx, int32_t device) {
  moe_context_init_cpu(ctx);
  ctx->target = MOE_TARGET_CUDA;
  ctx->device = device;
}

/* What a status means, in a few words. */
static inline const char *moe_status_string(int32_t status) {
  switch (status) {
  case MOE_STATUS_OK:
    return "success";
  case MOE_STATUS_INVALID_ARGUMENT:
    return "invalid argument (a null pointer, a negative token count, a "
           "struct_size too small, a context field or a token id out of "
           "range)";
  case MOE_STATUS_ABI_VERSION:
    return "the context's abi_version is not the library's";
  case MOE_STATUS_WRONG_TARGET:
    return "the context's target is not the library's";
  case MOE_STATUS_WEIGHT_COUNT:
    return "wrong number of weight buffers";
  case MOE_STATUS_WEIGHT_DTYPE:
    return "a weight buffer's dtype is not its slot's";
  case MOE_STATUS_WEIGHT_SHAPE:
    return "a weight buffer's rank or shape is not its slot's";
  case MOE_STATUS_OUT_OF_MEMORY:
    return "out of memory";
  case MOE_STATUS_RANKS:
    return "the context's ranks or communicator do not match the ranks the "
           "library was compiled for";
  case MOE_STATUS_COMMUNICATION:
    return "an exchange with the other ranks failed";
  case MOE_STATUS_DEVICE:
    return "the device or its driver failed";
  default:
    return "unknown status";
  }
}

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_MOE_RUNTIME_H */
