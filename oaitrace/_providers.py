"""Which provider served a request, named from its host and path.

Names follow the OpenTelemetry GenAI `gen_ai.provider.name` values where
one exists (`openai`, `azure.ai.openai`, `groq`, `deepseek`, `mistral_ai`,
`gcp.gemini`, `x_ai`, `perplexity`) and the provider's own short name
elsewhere (`openrouter`, `together`, `fireworks`, `ollama`, `vllm`,
`litellm`). A host that is none of these but speaks the OpenAI API is
`openai_compatible`: a self-hosted server is only named when its host or
well-known port gives it away, never guessed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

__all__ = ["OPENAI_COMPATIBLE", "provider_for"]

OPENAI_COMPATIBLE: Final = "openai_compatible"

# Registered domain (the host itself or any of its subdomains) -> provider.
_DOMAINS: Final = {
    "openai.com": "openai",
    "openai.azure.com": "azure.ai.openai",
    "cognitiveservices.azure.com": "azure.ai.openai",
    "services.ai.azure.com": "azure.ai.openai",
    "openrouter.ai": "openrouter",
    "groq.com": "groq",
    "deepseek.com": "deepseek",
    "mistral.ai": "mistral_ai",
    "together.xyz": "together",
    "together.ai": "together",
    "fireworks.ai": "fireworks",
    "x.ai": "x_ai",
    "perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
# Self-hosted servers: a word in the host name (a container or service
# name such as `ollama:11434` or `vllm-gpu.internal`) or the default port.
_HOST_WORDS: Final = (("ollama", "ollama"), ("vllm", "vllm"), ("litellm", "litellm"))
_DEFAULT_PORTS: Final = {"11434": "ollama"}
_AZURE_PATH_PREFIX: Final = "/openai/deployments/"


def provider_for(host: str, path: str) -> str:
    """The provider name of a request to `host` (with optional port) at `path`.

    Example::

        >>> provider_for("api.openai.com", "/v1/chat/completions")
        'openai'
        >>> provider_for("myres.openai.azure.com", "/openai/deployments/gpt4o/chat/completions")
        'azure.ai.openai'
        >>> provider_for("localhost:11434", "/v1/chat/completions")
        'ollama'
        >>> provider_for("gpu-box.internal:8000", "/v1/chat/completions")
        'openai_compatible'
    """
    return _provider_for(host, path.startswith(_AZURE_PATH_PREFIX))


@lru_cache(maxsize=1024)
def _provider_for(host: str, azure_path: bool) -> str:
    authority = host.lower().rpartition("@")[2]
    if authority.startswith("["):  # IPv6 literal
        name, _, rest = authority[1:].partition("]")
        port = rest[1:]
    else:
        name, _, port = authority.partition(":")
    name = name.rstrip(".")
    labels = name.split(".")
    for start in range(len(labels)):
        provider = _DOMAINS.get(".".join(labels[start:]))
        if provider is not None:
            return provider
    # An Azure resource behind a custom domain or API Management gateway
    # still has the deployment path.
    if azure_path:
        return "azure.ai.openai"
    for word, provider in _HOST_WORDS:
        if word in name:
            return provider
    return _DEFAULT_PORTS.get(port, OPENAI_COMPATIBLE)
