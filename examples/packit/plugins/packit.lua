-- Packit-style build and test commands for merge requests.
--
-- The rules in rules/packit.toml decide who may run what; this plugin
-- acknowledges the command (👀), marks the head commit pending for every
-- chroot, and answers in the merge request.

plugin = {
  description = "Packit-style /packit build and /packit test on merge requests",
  commands = {
    { name = "/packit build", help = "build the merge request's head commit in every configured chroot" },
    { name = "/packit test",  help = "run the tests of the merge request's head commit" },
    { name = "/packit help",  help = "list these commands" },
  },
}

local function help()
  local lines = { "**Packit commands**", "" }
  for _, c in ipairs(plugin.commands) do
    lines[#lines + 1] = string.format("- `%s`: %s", c.name, c.help)
  end
  return table.concat(lines, "\n")
end

function handle(event, params)
  local job = params.job or "build"
  if job == "help" then
    gitlab.comment(help())
    return { job = "help" }
  end

  gitlab.react("eyes")
  local chroots = params.chroots or {}
  for _, chroot in ipairs(chroots) do
    gitlab.set_commit_status{
      state = "pending",
      name = "packit/" .. job .. "/" .. chroot,
      description = "Packit " .. job .. " requested by @" .. event.user.username,
    }
  end
  local short = string.sub(event.sha, 1, 8)
  gitlab.comment(string.format("Packit %s queued for %s in %d chroot(s), requested by @%s.",
    job, short, #chroots, event.user.username))
  log.info("packit job queued", { job = job, sha = event.sha, chroots = #chroots })
  return { job = job, sha = event.sha, chroots = #chroots }
end
