-- mistral.lua - Mistral-Instruct's template (mistralai/Mistral-7B-Instruct-
-- v0.2, tokenizer_config.json; Mixtral-8x7B-Instruct-v0.1 has the same):
--   {{ bos_token }}{% for message in messages %}{% if (message['role'] ==
--   'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation
--   roles must alternate user/assistant/user/assistant/...') }}{% endif %}
--   {% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] +
--   ' [/INST]' }}{% elif message['role'] == 'assistant' %}
--   {{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only
--   user and assistant roles are supported!') }}{% endif %}{% endfor %}
-- bos_token and eos_token are <s> and </s>. It refuses system messages and
-- conversations that do not alternate, with the same messages. Trained:
-- each assistant message's content and its </s>. The segment contract is
-- in chatml.lua.
return function(messages)
  local out = {"<s>"}
  for i, m in ipairs(messages) do
    if (m.role == "user") ~= (i % 2 == 1) then
      error("Conversation roles must alternate user/assistant/user/assistant/...", 0)
    end
    if m.role == "user" then
      out[#out + 1] = "[INST] " .. m.content .. " [/INST]"
    elseif m.role == "assistant" then
      out[#out + 1] = {text = m.content .. "</s>", train = true}
    else
      error("Only user and assistant roles are supported!", 0)
    end
  end
  return out
end
