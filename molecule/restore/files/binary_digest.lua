-- "<keys present> <sha1 over the sha1 of each key's DUMP>" for the keys binary_write.lua writes.
local parts, present = {}, 0
local function add(key)
  local dump = redis.call("DUMP", key)
  if dump then
    present = present + 1
    parts[#parts + 1] = redis.sha1hex(dump)
  else
    parts[#parts + 1] = "-"
  end
end
for b = 0, 255 do add("bin:" .. string.char(b) .. "\255\254") end
for n = 1, 200 do add("bin:\255\254" .. n) end
add("bin:\0\n\r\t\255")
return present .. " " .. redis.sha1hex(table.concat(parts, ","))
