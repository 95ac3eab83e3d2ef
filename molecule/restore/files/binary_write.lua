-- Keys and values covering every byte value (NUL, newline, CR, tab, 0xFF, invalid UTF-8):
-- bin:<b>\255\254 for b = 0..255, bin:\255\254<n> for n = 1..200, one with a TTL.
local all = ""
for b = 0, 255 do all = all .. string.char(b) end
for b = 0, 255 do redis.call("SET", "bin:" .. string.char(b) .. "\255\254", all .. string.char(b)) end
for n = 1, 200 do redis.call("SET", "bin:\255\254" .. n, string.char(n % 256, 0, 10, 13, 255) .. all) end
redis.call("SET", "bin:\0\n\r\t\255", all, "PX", 86400000)
return "written"
