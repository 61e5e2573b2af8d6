-- redbeat-sync: apply one batch of write operations atomically.
--
-- All-or-nothing: every guard is checked before anything is written, so a batch
-- whose view of Redis went stale (someone edited an entry after the plan was made)
-- changes nothing and returns the names that changed.
--
-- KEYS[1]      the schedule sorted set  (prefix .. ":schedule")
-- KEYS[2]      the inventory set        (prefix .. ":sync:managed")
-- KEYS[3]      RedBeat's statics set    (prefix .. ":statics"): a name apply manages
--              leaves it, or celery-redbeat's beat would delete the entry at its next
--              start once the name is gone from beat_schedule (imported entries)
-- KEYS[3 + i]  the entry hash of op i   (prefix .. name)
-- KEYS[3 + n + j] the run history keys (prefix .. ":sync:runs:" .. name), after the
--              n entry hashes: two for each "moveout" (the old name's, then the new
--              name's) and one for each "remove", in op order.  The history goes with
--              the entry: a rename renames it, a delete deletes it.
-- Every key the script touches is passed in KEYS, so under Redis Cluster a
-- hash-tagged prefix ("{redbeat}:") routes the whole batch to one slot.
--
-- ARGV[1..3]   hash field names: definition, meta, our extra field
-- ARGV[4]      the ops, as ONE JSON array (one argument instead of eight per op:
--              packing hundreds of thousands of arguments cost more than the writes)
--              of arrays [kind, name, expect, flags, definition, extra, meta, score],
--              in KEYS order:
--   kind        "put" | "remove" | "release" | "moveout"
--               ("moveout" is the first half of a rename: it deletes the old entry
--               and carries its meta to the "put" right after it, flag C)
--   name        entry name (inventory member)
--   expect      "" : the key must not exist
--               hex: sha1(definition .. "\0" .. extra), missing fields read as ""
--                    (byte-for-byte the same as model.field_digest in Python)
--   flags       letters, for "put" only:
--                 D write definition   X write extra   x delete extra
--                 M create meta (HSETNX: never overwrites beat's run history)
--                 S set score          N add score only if the member is missing
--                 C write the meta carried from the "moveout" just before (if any)
--                 H (without D) replace, in extra, the sha1 given as definition by
--                   the sha1 of the definition stored now
--   definition, extra, meta, score     values for the flags above ("" when unused)
--               "release": extra (op[6]) non-empty replaces our field instead of
--               deleting it (keeps data the entry still needs, marker off)
--
-- ARGV[5]      optional batch mark (unique per batch of one write); then the LAST
--              key is the "applied" key (prefix .. ":sync:applied").  A batch whose
--              mark is already there landed before: a client retry re-sent it after
--              losing the reply, so it is reported done instead of failing its guards.
--
-- Returns {"ok", n_ops} or {"changed", name, name, ...}; {"ok", n_ops, "again"} for
-- a re-sent batch that had landed.

local marked = #ARGV == 5
if #KEYS < 3 or (#ARGV ~= 4 and not marked) then
  return redis.error_reply("redbeat-sync apply.lua: malformed call")
end
local ops = cjson.decode(ARGV[4])
if type(ops) ~= "table" then
  return redis.error_reply("redbeat-sync apply.lua: ops do not match keys")
end
local n = #ops
if marked and redis.call("GET", KEYS[#KEYS]) == ARGV[5] then
  return { "ok", tostring(n), "again" }
end
local histories = 0
for i = 1, n do
  local op = ops[i]
  if type(op) == "table" and op[1] == "moveout" then
    histories = histories + 2
  elseif type(op) == "table" and op[1] == "remove" then
    histories = histories + 1
  end
end
if #KEYS ~= 3 + n + histories + (marked and 1 or 0) then
  return redis.error_reply("redbeat-sync apply.lua: ops do not match keys")
end

local schedule, inventory, statics = KEYS[1], KEYS[2], KEYS[3]
local F_DEF, F_META, F_EXTRA = ARGV[1], ARGV[2], ARGV[3]

local function has(flags, letter)
  return string.find(flags, letter, 1, true) ~= nil
end

-- 1. guards: read only
local changed = { "changed" }
for i = 1, n do
  local key = KEYS[3 + i]
  local op = ops[i]
  if type(op) ~= "table" then
    return redis.error_reply("redbeat-sync apply.lua: malformed op")
  end
  local kind, expect = op[1], op[3]
  if kind ~= "put" and kind ~= "remove" and kind ~= "release" and kind ~= "moveout" then
    -- checked here, before any write: a script error half-way would not roll back
    return redis.error_reply("redbeat-sync apply.lua: unknown op kind " .. kind)
  end
  if expect == "" then
    if redis.call("EXISTS", key) == 1 then
      changed[#changed + 1] = op[2]
    end
  else
    local got = redis.call("HMGET", key, F_DEF, F_EXTRA)
    -- a missing field is a Lua false: read it as "" like the Python side does
    local definition = got[1] or ""
    local extra = got[2] or ""
    if redis.sha1hex(definition .. "\0" .. extra) ~= expect then
      changed[#changed + 1] = op[2]
    end
  end
end
if #changed > 1 then
  return changed
end

-- 2. writes: every guard held
local carried = false -- meta of the entry a "moveout" just removed
local history = 3 + n -- the last run history key used
for i = 1, n do
  local key = KEYS[3 + i]
  local op = ops[i]
  local kind, name, flags = op[1], op[2], op[4]
  if kind == "put" then
    local write_def, write_extra = has(flags, "D"), has(flags, "X")
    if write_def and write_extra then -- the common case, in one call
      redis.call("HSET", key, F_DEF, op[5], F_EXTRA, op[6])
    elseif write_def then
      redis.call("HSET", key, F_DEF, op[5])
    elseif write_extra then
      local extra = op[6]
      if has(flags, "H") then
        -- Adopting as-is: the definition stays byte for byte, so the extra field must
        -- name the sha1 of the STORED definition, not of the one we would have
        -- written (op[5] is that sha1, as it appears in op[6]).
        local stored = redis.call("HGET", key, F_DEF) or ""
        local s, e = string.find(extra, op[5], 1, true)
        if s then
          extra = string.sub(extra, 1, s - 1) .. redis.sha1hex(stored) .. string.sub(extra, e + 1)
        end
      end
      redis.call("HSET", key, F_EXTRA, extra)
    end
    if has(flags, "x") then
      redis.call("HDEL", key, F_EXTRA)
    end
    if has(flags, "M") then
      redis.call("HSETNX", key, F_META, op[7])
    end
    if has(flags, "C") then
      if carried then
        redis.call("HSET", key, F_META, carried)
      end
      carried = false
    end
    if has(flags, "S") then
      redis.call("ZADD", schedule, op[8], key)
    elseif has(flags, "N") then
      redis.call("ZADD", schedule, "NX", op[8], key)
    end
    redis.call("SADD", inventory, name)
    redis.call("SREM", statics, name)
  elseif kind == "remove" then
    redis.call("DEL", key, KEYS[history + 1])
    history = history + 1
    redis.call("ZREM", schedule, key)
    redis.call("SREM", inventory, name)
  elseif kind == "moveout" then
    carried = redis.call("HGET", key, F_META)
    redis.call("DEL", key)
    redis.call("ZREM", schedule, key)
    redis.call("SREM", inventory, name)
    -- The runs go with the entry; runs left under the new name by an entry deleted
    -- before history went with deletes are not this entry's.
    local old_runs, new_runs = KEYS[history + 1], KEYS[history + 2]
    history = history + 2
    if redis.call("EXISTS", old_runs) == 1 then
      redis.call("RENAME", old_runs, new_runs)
    else
      redis.call("DEL", new_runs)
    end
  else -- "release"
    redis.call("SREM", inventory, name)
    if op[6] ~= nil and op[6] ~= "" then
      redis.call("HSET", key, F_EXTRA, op[6])
    else
      redis.call("HDEL", key, F_EXTRA)
    end
  end
end
if marked then
  redis.call("SET", KEYS[#KEYS], ARGV[5])
end
return { "ok", tostring(n) }
