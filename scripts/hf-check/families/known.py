"""The six families moec imported before issue 16."""

from hfcheck import Family

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=64)

FAMILIES = {
    "mixtral": Family("mixtral", dict(TINY, intermediate_size=48,
                                      num_local_experts=8, num_experts_per_tok=2)),
    "qwen3_moe": Family("qwen3_moe", dict(TINY, moe_intermediate_size=48,
                                          intermediate_size=64, num_experts=8,
                                          num_experts_per_tok=2, norm_topk_prob=True)),
}
