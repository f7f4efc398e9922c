-- Opens a ticket in the company's internal tracker from "/ticket TITLE"
-- and answers with its link. company.ticket is not part of hookgate: the
-- program in examples/embed registers it (sdk.NewModule).

plugin = {
  description = "Opens internal tickets from comments",
  commands = {
    { name = "/ticket", help = "open a ticket in the internal tracker: /ticket TITLE" },
  },
}

---@param event hookgate.Event
---@param params hookgate.Params
function handle(event, params)
  local title = table.concat(event.command.args, " ")
  if title == "" then
    gitlab.comment("Usage: `/ticket TITLE`")
    return { opened = false }
  end
  local t = company.ticket(title)
  gitlab.comment(string.format("Opened ticket [#%d](%s) for @%s.", t.id, t.url, event.user.username))
  log.info("ticket opened", { id = t.id })
  return { opened = true, id = t.id }
end
