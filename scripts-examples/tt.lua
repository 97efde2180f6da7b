-- A `role:tt` hook for the htmlize example: :tt:`text` renders as <tt>text</tt>.
local M = { meta = { name = 'tt-lua', version = '1.0.0', apiVersion = 1, description = 'role:tt renders teletype text' } }

local function escape(s)
  return (s:gsub('[&<>"]', { ['&'] = '&amp;', ['<'] = '&lt;', ['>'] = '&gt;', ['"'] = '&quot;' }))
end

function M.hooks() return host.array({ 'role:tt' }) end

function M.run(hook, text)
  if hook == 'role:tt' then return '<tt>' .. escape(text) .. '</tt>' end
  return nil
end

return M
