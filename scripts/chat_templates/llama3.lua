-- llama3.lua - Llama-3-Instruct's template (meta-llama/Meta-Llama-3-8B-
-- Instruct, tokenizer_config.json):
--   {% set loop_messages = messages %}{% for message in loop_messages %}
--   {% set content = '<|start_header_id|>' + message['role'] +
--   '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}
--   {% if loop.index0 == 0 %}{% set content = bos_token + content %}
--   {% endif %}{{ content }}{% endfor %}
-- bos_token is <|begin_of_text|>. Any role is rendered. Trained: each
-- assistant message's trimmed content and its <|eot_id|>. The segment
-- contract is in chatml.lua.

-- Jinja's trim is Python's str.strip(): the characters str.isspace() calls
-- whitespace, Unicode ones included
local space = {}
for _, c in ipairs{0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} do
  space[c] = true
end
for c = 0x09, 0x0D do space[c] = true end
for c = 0x1C, 0x20 do space[c] = true end
for c = 0x2000, 0x200A do space[c] = true end

local function trim(s)
  local first, last
  for p, c in utf8.codes(s) do
    if not space[c] then
      first = first or p
      last = utf8.offset(s, 2, p) - 1
    end
  end
  return first and s:sub(first, last) or ""
end

return function(messages)
  local out = {"<|begin_of_text|>"}
  for _, m in ipairs(messages) do
    local head = "<|start_header_id|>" .. m.role .. "<|end_header_id|>\n\n"
    if m.role == "assistant" then
      out[#out + 1] = head
      out[#out + 1] = {text = trim(m.content) .. "<|eot_id|>", train = true}
    else
      out[#out + 1] = head .. trim(m.content) .. "<|eot_id|>"
    end
  end
  return out
end
