/*===- moe_runtime.h - the C ABI of libraries compiled by moe-compile -----===*
 *
 * A library compiled by `moe-compile --target=cpu` exports:
 *
 *   const char *moe_module_manifest(void);
 *
 * a JSON document (format below), and for each entry point the function
 * the manifest names:
 *
 *   int32_t moe_entry_<name>(const float *const *weights, const float *input,
 *                            float *output, int64_t tokens);
 *
 * `weights` holds one pointer per weight slot, in manifest order, each to a
 * dense row-major tensor of the slot's shape and dtype (float32, or bf16
 * for a "bf16" slot; per-expert checkpoint tensors stacked on dimension 0),
 * 64-byte aligned for speed; `input` and `output` are [tokens, hidden]
 * row-major float32. Returns 0 on success. And
 *
 *   void moe_set_num_threads(int32_t threads);
 *
 * which sizes the thread team of the library's parallel loops (OpenMP).
 *
 * Manifest (format 1), for example:
 *
 *   {"format": 1, "target": "cpu", "entries": [
 *     {"name": "mixtral_layer0", "kind": "forward",
 *      "symbol": "moe_entry_mixtral_layer0", "hidden": 4096,
 *      "weights": [
 *        {"name": "model.layers.0.block_sparse_moe.experts.{e}.w1.weight",
 *         "shape": [8, 14336, 4096], "dtype": "f32", "layout": "stacked",
 *         "experts": [0, 8]},
 *        {"name": "model.layers.0.block_sparse_moe.gate.weight",
 *         "shape": [8, 4096], "dtype": "f32", "layout": "single"}]}]}
 *
 * Entries are of "kind" "forward", or "routing_stats" ("of": the forward
 * entry it describes; "outputs": E+4 floats written to `output` whatever
 * `tokens` is: the load of each expert, then entropy / log E, largest
 * share, mean router confidence and aux loss).
 *
 * "stacked" slots read the checkpoint tensors named by replacing "{e}" with
 * each expert index in "experts" [begin, end) and stack them; "single" slots
 * read one tensor of the slot's shape. A slot whose checkpoint layout
 * differs also carries "source_shape" (what the checkpoint holds, stacked
 * first), an optional "slice": [dim, offset, size] and an optional
 * "transpose" permutation, applied in that order; a slot of packed
 * weights then has "pack": [dim, P]: the viewed tensor packed along `dim`
 * in panels of P (zero past its end), as linalg.pack with inner_dims_pos =
 * [dim], inner_tiles = [P] gives (in the libraries moe-compile makes, P
 * is the micro-kernels' panel width, MOE_UKERNEL_PANEL in
 * moe/Runtime/KernelABI.h; the loader packs to the P the manifest names).
 * The result is "shape", in "dtype": "f32", or "bf16" for packed slots
 * (`moe-compile --weight-type=bf16`): each value the upper 16 bits of an
 * f32, rounded to nearest even at bind time, and the weight pointer of
 * such a slot points at those 16-bit values.
 *
 * The loader (moe/Runtime/Loader.h) checks all of a manifest before using
 * any of it and refuses a library whose manifest breaks these rules:
 * "format" MOE_MANIFEST_FORMAT and "target" MOE_MANIFEST_TARGET (a library
 * of another format or target is refused as such, naming both); entry
 * names of letters, digits, '_', '.', '$' or '-', each once, and "symbol"
 * exactly "moe_entry_<name>"; "hidden" in [1, 2^18]; a "routing_stats"
 * entry's "of" naming a forward entry of the same hidden size (one
 * statistics entry per forward entry) and "outputs" in [5, 2^16 + 4];
 * slot names non-empty, holding "{e}" once when stacked and never when
 * single; "experts" with 0 <= begin < end <= 2^16, the stacked source
 * shape leading with end - begin; shapes of rank <= 8 with positive sizes
 * and at most 2^40 elements; "slice" within the source shape, "transpose"
 * a permutation of its rank, "pack" a dimension of it and P >= 1; and the
 * source shape, viewed, giving exactly "shape".
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_MOE_RUNTIME_H
#define MOE_RUNTIME_MOE_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOE_MANIFEST_FORMAT 1
/* The "target" of the libraries this runtime loads and runs. */
#define MOE_MANIFEST_TARGET "cpu"
#define MOE_MANIFEST_SYMBOL "moe_module_manifest"
#define MOE_SET_THREADS_SYMBOL "moe_set_num_threads"
/* Entry symbols are this prefix and the entry's name. */
#define MOE_ENTRY_SYMBOL_PREFIX "moe_entry_"
/* Entry kinds in the manifest. */
#define MOE_ENTRY_KIND_FORWARD "forward"
#define MOE_ENTRY_KIND_ROUTING_STATS "routing_stats"
/* A routing-statistics entry writes E loads and then this many summaries
 * (entropy / log E, largest share, mean router confidence, aux loss). */
#define MOE_ROUTING_STATS_SUMMARIES 4

typedef const char *(*moe_manifest_fn)(void);
typedef void (*moe_set_threads_fn)(int32_t threads);
typedef int32_t (*moe_entry_fn)(const float *const *weights, const float *input,
                                float *output, int64_t tokens);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_MOE_RUNTIME_H */
