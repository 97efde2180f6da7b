-- Storage backend on the file system (Lua), through the scoped `fs` capability the host grants
-- with a base directory: one file per key. The same contract as memory-storage.js:
-- get(key), put(key, value), delete(key), health().
local M = {
  meta = {
    name = 'storage',
    version = '1.0.0-fs',
    apiVersion = 1,
    description = 'Storage contract, file-system backend (host.fs)',
    tests = {
      put = { { args = { 'selftest', 'x' }, expect = true } },
      get = { { args = { 'selftest' }, expect = 'x' } },
      delete = { { args = { 'selftest' }, expect = true } },
    },
  },
}

local function path_of(key)
  if type(key) ~= 'string' or #key == 0 or #key > 128 or key:find('[^%w%._%-]') then
    error('invalid key ' .. tostring(key) .. ': use 1-128 of A-Z a-z 0-9 . _ -', 2)
  end
  return 'data/' .. key
end

function M.get(key)
  return host.fs.read(path_of(key))
end

function M.put(key, value)
  if type(value) ~= 'string' then error('values are strings', 2) end
  return host.fs.write(path_of(key), value)
end

M['delete'] = function(key)
  return host.fs.remove(path_of(key))
end

function M.health()
  host.fs.write('.health', 'ok')
  return { ok = host.fs.read('.health') == 'ok', keys = #host.fs.list('data') }
end

return M
