-- Adds labels to a merge request from its target branch and title.

plugin = {
  description = "Label merge requests on open by target branch and title",
}

local function collect(rules, subject, into, seen)
  for _, r in ipairs(rules or {}) do
    if string.find(subject, r.pattern) and not seen[r.label] then
      seen[r.label] = true
      into[#into + 1] = r.label
    end
  end
end

function handle(event, params)
  local mr = event.merge_request
  local labels, seen = {}, {}
  for _, l in ipairs(mr.labels) do seen[l] = true end -- already there
  collect(params.branches, mr.target_branch, labels, seen)
  collect(params.titles, mr.title, labels, seen)
  if #labels > 0 then
    gitlab.add_labels(labels)
  end
  return { added = labels }
end
