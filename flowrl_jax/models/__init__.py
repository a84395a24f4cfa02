"""The decoder (Qwen2, Qwen2.5, Qwen3, Llama 3), its heads, and Hugging Face checkpoint I/O."""

from flowrl_jax.models.config import ConfigError, ModelConfig, RopeScaling
from flowrl_jax.models.decoder import (
    REMAT_POLICIES,
    Decoder,
    DecoderOutput,
    KVCache,
    token_logprobs,
)
from flowrl_jax.models.logprobs import ResponseLogprobs, response_logprobs
from flowrl_jax.models.params import (
    CheckpointError,
    from_pretrained,
    hf_state_dict,
    load_tokenizer,
    save_pretrained,
)

__all__ = [
    "REMAT_POLICIES",
    "CheckpointError",
    "ConfigError",
    "Decoder",
    "DecoderOutput",
    "KVCache",
    "ModelConfig",
    "ResponseLogprobs",
    "RopeScaling",
    "from_pretrained",
    "hf_state_dict",
    "load_tokenizer",
    "response_logprobs",
    "save_pretrained",
    "token_logprobs",
]
