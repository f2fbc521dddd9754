//===- MoEBase.td - The moe dialect definition -------------*- tablegen -*-===//
//
// The dialect record shared by the attribute, type and op definitions.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEBASE_TD
#define MOE_DIALECT_MOE_IR_MOEBASE_TD

include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts layers: routing, dispatch, expert FFNs, combine";
  let description = [{
    The `moe` dialect describes the Mixture-of-Experts FFN block of modern LLMs
    (Mixtral, Qwen-MoE, DeepSeek-V2/V3, Llama 4) at tensor level with value
    semantics. The token count is dynamic (`tensor<?xHxf32>`); hidden size,
    expert FFN width and expert count are static.

    `moe.layer` holds a whole block with its configuration as attributes and
    its weights as operands; `moe-decompose` expands it into the stages
    `moe.route` (or `moe.expert_choice`), `moe.dispatch`, `moe.expert_mlp`,
    `moe.combine` and `moe.shared_mlp`. Expert-parallel execution adds
    `moe.all_to_all` (and its async form); `moe.routing_stats` measures how
    a router spreads its tokens.

    Stages pass an *expert-major row bundle* between them: `rows` (`[R,H]`,
    the (token, slot) pairs permuted so that each expert's rows are
    contiguous), `row_token` (`[R]`, the source token of each row),
    `row_weight` (`[R]`, its routing weight) and `expert_offsets` (`[E+1]`,
    prefix sums: expert `e` owns rows `[offsets[e], offsets[e+1])`). Rows at
    or past `offsets[E]` are slots dropped by a capacity limit.

    All routing math is float32; ties in top-k go to the lower expert id.
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let hasCanonicalizer = 0;
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

#endif // MOE_DIALECT_MOE_IR_MOEBASE_TD
