-- Prelude shared by the scripts that rewrite `room:state:{roomId}` (prepended at load).
-- Encodes the state with the baseline's key order (JSON.stringify of 6.1), keeps an
-- empty `speakers` as `[]` (plain cjson would write `{}`) and does not escape `/`.
local function encode_room_state(state)
  local order = {'id', 'status', 'participantCount', 'seatCount', 'createdAt', 'lastActivityAt', 'speakers'}
  local known = {}
  local parts = {}
  local function put(k, v)
    local encoded
    if type(v) == 'table' and next(v) == nil then
      encoded = '[]'
    else
      encoded = cjson.encode(v)
    end
    parts[#parts + 1] = cjson.encode(k) .. ':' .. encoded
  end
  for _, k in ipairs(order) do
    known[k] = true
    if state[k] ~= nil then put(k, state[k]) end
  end
  for k, v in pairs(state) do
    if not known[k] then put(k, v) end
  end
  return (string.gsub('{' .. table.concat(parts, ',') .. '}', '\\/', '/'))
end
