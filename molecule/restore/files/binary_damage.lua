-- Set B for the binary keys: delete some, change others.
for b = 0, 255, 3 do redis.call("DEL", "bin:" .. string.char(b) .. "\255\254") end
for n = 1, 200, 7 do redis.call("SET", "bin:\255\254" .. n, "changed\0") end
return "damaged"
