-- chatml.lua - ChatML, as teknium/OpenHermes-2.5-Mistral-7B's
-- tokenizer_config.json writes it (Jinja):
--   {% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' +
--   message['content'] + '<|im_end|>' + '\n'}}{% endfor %}
-- Any role is rendered. Trained: each assistant message's content and its
-- <|im_end|>. (qwen2.lua and smollm2.lua add a default system prompt.)
--
-- A chat template returns function(messages) -> segments: messages is
-- {{role = ..., content = ...}, ...}; a segment is a string (no loss) or
-- {text = ..., train = true}. The data's token cache keys on what the
-- template renders, so a template may require helpers freely.
return function(messages)
  local out = {}
  for _, m in ipairs(messages) do
    if m.role == "assistant" then
      out[#out + 1] = "<|im_start|>assistant\n"
      out[#out + 1] = {text = m.content .. "<|im_end|>", train = true}
      out[#out + 1] = "\n"
    else
      out[#out + 1] = "<|im_start|>" .. m.role .. "\n" .. m.content .. "<|im_end|>\n"
    end
  end
  return out
end
