// A DeepSeek-V3-style MoE block at toy size: hidden 32, 16 routed experts
// in 4 groups, sigmoid scores with a score-correction bias, top-2-sum group
// scores keeping 2 groups, top-4 renormalised and scaled by 2.5, plus one
// always-on shared expert of width 48.
func.func @deepseek_v3_layer3(%hidden_states: tensor<?x32xf32>,
                              %gate: tensor<16x32xf32>,
                              %e_score_correction_bias: tensor<16xf32>,
                              %gate_proj: tensor<16x24x32xf32>,
                              %up_proj: tensor<16x24x32xf32>,
                              %down_proj: tensor<16x32x24xf32>,
                              %shared_gate_proj: tensor<48x32xf32>,
                              %shared_up_proj: tensor<48x32xf32>,
                              %shared_down_proj: tensor<32x48xf32>) -> tensor<?x32xf32> {
  %out = moe.layer %hidden_states router(%gate, bias %e_score_correction_bias)
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
