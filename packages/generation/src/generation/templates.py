"""Chat templates: the canonical Llama-3 one (models/tokenizer saves it) and a plain fallback."""

# Llama-3's chat format, with {% generation %} markers around what the assistant says (its
# <|eot_id|> included, so a model learns to stop) for assistant-only loss masks. The markers
# render nothing, so the text is exactly Meta's template output. Saved into models/tokenizer:
# keep it byte-identical.
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- generation %}{{- message['content'] | trim + '<|eot_id|>' }}{%- endgeneration %}"
    "{%- else %}"
    "{{- message['content'] | trim + '<|eot_id|>' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

# For a local model whose tokenizer ships no template (a raw base): role-prefixed lines.
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)
