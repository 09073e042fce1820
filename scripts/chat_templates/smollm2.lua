-- smollm2.lua - SmolLM2-Instruct's template (HuggingFaceTB/SmolLM2-135M-
-- Instruct, tokenizer_config.json; the same for 360M and 1.7B): ChatML,
-- with a default system prompt when the conversation does not start with
-- one:
--   {% for message in messages %}{% if loop.first and messages[0]['role'] !=
--   'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named
--   SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}
--   {{'<|im_start|>' + message['role'] + '\n' + message['content'] +
--   '<|im_end|>' + '\n'}}{% endfor %}
-- Trained: each assistant message's content and its <|im_end|>.
local chatml = require "chatml"

return function(messages)
  local out = chatml(messages)
  if messages[1].role ~= "system" then
    table.insert(out, 1, "<|im_start|>system\nYou are a helpful AI assistant "
                 .. "named SmolLM, trained by Hugging Face<|im_end|>\n")
  end
  return out
end
