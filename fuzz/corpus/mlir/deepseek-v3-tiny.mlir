// A DeepSeek-V3-style MoE block (layer 3) at toy size: hidden 32, 16 routed
// experts in 4 groups, sigmoid scores with a score-correction bias, top-2-sum
// group scores keeping 2 groups, top-4 renormalised and scaled by 2.5, plus
// one always-on shared expert of width 48. Weights carry their Hugging Face
// checkpoint names.
func.func @deepseek_v3_layer3(
    %hidden_states: tensor<?x32xf32>,
    %gate: tensor<16x32xf32> {moe.weight = "model.layers.3.mlp.gate.weight"},
    %bias: tensor<16xf32> {moe.weight = "model.layers.3.mlp.gate.e_score_correction_bias"},
    %gate_proj: tensor<16x24x32xf32> {moe.weight = "model.layers.3.mlp.experts.{e}.gate_proj.weight"},
    %up_proj: tensor<16x24x32xf32> {moe.weight = "model.layers.3.mlp.experts.{e}.up_proj.weight"},
    %down_proj: tensor<16x32x24xf32> {moe.weight = "model.layers.3.mlp.experts.{e}.down_proj.weight"},
    %shared_gate_proj: tensor<48x32xf32> {moe.weight = "model.layers.3.mlp.shared_experts.gate_proj.weight"},
    %shared_up_proj: tensor<48x32xf32> {moe.weight = "model.layers.3.mlp.shared_experts.up_proj.weight"},
    %shared_down_proj: tensor<32x48xf32> {moe.weight = "model.layers.3.mlp.shared_experts.down_proj.weight"})
    -> tensor<?x32xf32> {
  %out = moe.layer %hidden_states router(%gate, bias %bias)
           experts(gate %gate_proj, up %up_proj, down %down_proj)
           shared(gate %shared_gate_proj, up %shared_up_proj, down %shared_down_proj)
           {router = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true,
                                  scaling_factor = 2.5, n_group = 4, topk_group = 2,
                                  group_score = top2_sum>}
           : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16xf32>,
              tensor<16x24x32xf32>, tensor<16x24x32xf32>, tensor<16x32x24xf32>,
              tensor<48x32xf32>, tensor<48x32xf32>, tensor<32x48xf32>)
           -> tensor<?x32xf32>
  return %out : tensor<?x32xf32>
}
