-- Reverses a string (by UTF-8 characters, so accented text stays valid).
local M = { meta = { name = 'revert-lua', version = '1.0.0', apiVersion = 1, description = 'reverses a string' } }

function M.revert(s)
  local chars = {}
  for _, c in utf8.codes(s) do chars[#chars + 1] = utf8.char(c) end
  local out = {}
  for i = #chars, 1, -1 do out[#out + 1] = chars[i] end
  return table.concat(out)
end

return M
