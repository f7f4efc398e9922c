-- Prow-style /retest: triggers a new pipeline on the merge request's source
-- branch and says so in the merge request.

plugin = {
  description = "Prow-style /retest on merge requests",
  commands = { { name = "/retest", help = "run the merge request's pipeline again" } },
}

function handle(event, params)
  local mr = event.merge_request
  local p = gitlab.create_pipeline{ ref = mr.source_branch, variables = params.variables }
  -- web_url is "" (not nil) when GitLab sent none, e.g. in dry run.
  local link = p.web_url ~= "" and p.web_url or ("#" .. tostring(p.id))
  gitlab.comment(string.format("Retesting `%s` as requested by @%s: pipeline %s",
    mr.source_branch, event.user.username, link))
  return { pipeline = p.id, ref = mr.source_branch }
end
