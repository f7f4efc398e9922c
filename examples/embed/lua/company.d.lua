---@meta company
-- LuaLS annotations for the company module that examples/embed registers,
-- next to hookgate's own (sdk/lua/hookgate.d.lua). Add this folder to
-- workspace.library in .luarc.json as well.

---The company's internal services (examples/embed).
company = {}

---@class company.Ticket
---@field id integer
---@field url string

---Opens a ticket in the internal tracker; the ticket records the event's
---project, delivery and user. A service that is down makes the run retried.
---@param title string
---@return company.Ticket
function company.ticket(title) end
