---@meta hookgate
-- LuaLS (lua-language-server) annotations for hookgate plugins: the event,
-- handle, the plugin table and every module the runtime gives scripts.
-- Nothing here runs: point your editor at this folder (docs/sdk.md).
-- sdk/stubs_test.go keeps this file in sync with the runtime: every module
-- function the runtime registers is declared here, and nothing else.

------------------------------------------------------------------------
-- The event
------------------------------------------------------------------------

---The project an event is about.
---@class hookgate.Project
---@field id integer project id (0 when the payload has none)
---@field path string path_with_namespace, e.g. "group/project"
---@field url string the project's web URL

---Who caused the event.
---@class hookgate.User
---@field id integer
---@field username string
---@field name string

---The merge request of merge request events and of notes, pipelines and
---emoji on merge requests (all empty otherwise).
---@class hookgate.MergeRequest
---@field iid integer the merge request's number in its project (!iid); 0 when none
---@field title string
---@field state string "opened", "closed", "merged", "locked"
---@field source_branch string
---@field target_branch string
---@field labels string[] label titles
---@field draft boolean
---@field source_project_id integer differs from event.project.id for merge requests from forks

---The issue of issue events and notes on issues (all empty otherwise).
---@class hookgate.Issue
---@field iid integer the issue's number in its project (#iid); 0 when none
---@field title string
---@field state string "opened" or "closed"
---@field labels string[] label titles

---A slash command found in a note: "/packit build --chroot f41" is
---{name = "packit", args = {"build", "--chroot", "f41"}, line = "/packit build --chroot f41"}.
---@class hookgate.Command
---@field name string the word after the slash ("" when there is no command)
---@field args string[] the whitespace-separated words after the name
---@field line string the whole trimmed line, slash included

---The envelope: one shape for every GitLab event. Fields that do not apply
---to an event are empty ("", 0, false, {}), never nil.
---@class hookgate.Event
---@field id string delivery id assigned by hookgate
---@field kind string object_kind: "push", "tag_push", "issue", "note", "merge_request", "pipeline", "build", ...
---@field event string the X-Gitlab-Event header, e.g. "Note Hook"
---@field action string object_attributes.action: "open", "update", "merge", "create", ...
---@field instance string the GitLab instance base URL
---@field project hookgate.Project
---@field user hookgate.User who caused the event
---@field ref string git ref, e.g. "refs/heads/main"
---@field branch string the ref's branch name
---@field tag string the ref's tag name
---@field sha string the commit the event is about
---@field note string comment text (note events)
---@field noteable_type string what the note is on: "MergeRequest", "Issue", "Commit", "Snippet"
---@field note_id integer the note's id (note events; 0 otherwise)
---@field system boolean true for notes and events GitLab writes itself
---@field merge_request hookgate.MergeRequest
---@field issue hookgate.Issue
---@field labels string[] label titles of the merge request or issue
---@field commands hookgate.Command[] the slash commands of a note, one per line starting with "/"
---@field command hookgate.Command the first of commands (all empty when there is none)
---@field payload table<string, any> the whole JSON body, decoded (null members are absent)

---A rule's params table, as written in its TOML file.
---@alias hookgate.Params table<string, any>

---The function a plugin defines: hookgate calls it once per matching rule
---and event. Returning is success (the first returned value is kept in the
---delivery log, as JSON); error(...) is a final failure; retry(...) a
---transient one.
---@alias hookgate.Handler fun(event: hookgate.Event, params: hookgate.Params): any

---Defined by every plugin. Annotate your own definition the same way:
---
---```lua
------@param event hookgate.Event
------@param params hookgate.Params
---function handle(event, params) ... end
---```
---@param event hookgate.Event the event that matched the rule
---@param params hookgate.Params the rule's params ({} when it has none)
---@return any result kept in the delivery log (must be JSON-encodable)
function handle(event, params) end

---One comment command a plugin answers, for help texts and docs.
---@class hookgate.CommandHelp
---@field name string e.g. "/packit build"
---@field help? string what it does

---What a plugin declares about itself (optional global, checked at load).
---@class hookgate.PluginInfo
---@field description? string
---@field commands? hookgate.CommandHelp[]

---Optional: what the plugin is and which commands it answers. Read at load
---(`hookgate check` refuses a malformed one) and visible to the script.
---@type hookgate.PluginInfo
plugin = {}

------------------------------------------------------------------------
-- gitlab: acts on GitLab, always on the event's own project
------------------------------------------------------------------------

---The GitLab API binding. Every function acts on the event's own project
---and its merge request, issue, note or commit; none takes a project, and
---an options table with an unknown field is refused. Each call is recorded
---in the delivery log (in dry run: recorded, not sent). Failures are raised
---as errors: GitLab 5xx, 429 and network errors make the run retried,
---4xx and bad arguments fail it.
gitlab = {}

---@alias hookgate.StatusState "pending"|"running"|"success"|"failed"|"canceled"|"skipped"

---@class hookgate.CommitStatus
---@field state hookgate.StatusState required
---@field sha? string the commit; default the event's sha
---@field name? string tells statuses apart, e.g. "packit/build"
---@field description? string shortened to 255 characters
---@field target_url? string where the status links to
---@field ref? string the branch or tag the status is for

---@alias hookgate.AccessLevel
---| 0  # not a member
---| 10 # guest
---| 20 # reporter
---| 30 # developer
---| 40 # maintainer
---| 50 # owner

---@class hookgate.PipelineOptions
---@field ref? string branch or tag; default the merge request's source branch, else the event's branch or tag
---@field variables? table<string, string|number|boolean> pipeline variables

---@class hookgate.Pipeline
---@field id integer 0 in dry run
---@field web_url string
---@field status string
---@field ref string
---@field sha string

---@class hookgate.DiffRefs
---@field base_sha string
---@field head_sha string
---@field start_sha string

---@class hookgate.MergeRequestDetails
---@field id integer
---@field iid integer
---@field project_id integer
---@field title string
---@field description string
---@field state string
---@field draft boolean
---@field source_branch string
---@field target_branch string
---@field source_project_id integer
---@field target_project_id integer
---@field sha string
---@field merge_commit_sha string
---@field web_url string
---@field labels string[]
---@field author hookgate.User
---@field detailed_merge_status string
---@field has_conflicts boolean
---@field diff_refs hookgate.DiffRefs

---Replies where the event happened: on its merge request, issue or snippet
---(notes and MR/issue events), else as a comment on the event's commit.
---@param body string Markdown, not empty
---@return integer note_id the new note's id; 0 for commit comments and in dry run
function gitlab.comment(body) end

---Sets a commit status on the event's project (POST /projects/:id/statuses/:sha).
---A status that cannot transition (already in that state) is not an error.
---@param opts hookgate.CommitStatus
function gitlab.set_commit_status(opts) end

---Adds labels to the event's merge request or issue:
---`gitlab.add_labels{"bug", "ci"}` or `gitlab.add_labels("bug", "ci")`.
---@param labels string[]|string
---@param ... string
function gitlab.add_labels(labels, ...) end

---Removes labels from the event's merge request or issue:
---`gitlab.remove_labels{"needs-review"}` or `gitlab.remove_labels("needs-review")`.
---@param labels string[]|string
---@param ... string
function gitlab.remove_labels(labels, ...) end

---Awards an emoji on the event's note, else on its merge request or issue.
---An emoji already awarded is not an error. A name GitLab does not know
---(plugins/gitlab/emoji.tsv) fails the run before any call.
---@param emoji string e.g. "eyes", "thumbsup", "👀"
function gitlab.react(emoji) end

---The user's effective access level in the event's project (inherited
---memberships included); cached for 60 s. 50 in dry run.
---@param user_id integer
---@return hookgate.AccessLevel level
function gitlab.access_level(user_id) end

---A file of the event's repository.
---@param path string path in the repository
---@param ref? string branch, tag or sha; default the event's sha, else the default branch
---@return string|nil content nil when the file or ref does not exist, and in dry run
function gitlab.file(path, ref) end

---The event's merge request, fetched from GitLab (in dry run: filled from
---the event). Raises an error when the event has no merge request.
---@return hookgate.MergeRequestDetails
function gitlab.merge_request() end

---Starts a pipeline on the event's project.
---@param opts? hookgate.PipelineOptions
---@return hookgate.Pipeline
function gitlab.create_pipeline(opts) end

------------------------------------------------------------------------
-- log: lines kept in the delivery log and the process log
------------------------------------------------------------------------

---Log lines, kept with the run's outcome in the delivery log (at most 1000
---per run; messages cut at 8 KiB) and written to the process log with the
---plugin's name and the delivery id.
log = {}

---@param msg any converted like tostring
---@param fields? table<string, any> converted like JSON
function log.debug(msg, fields) end

---@param msg any converted like tostring
---@param fields? table<string, any> converted like JSON
function log.info(msg, fields) end

---@param msg any converted like tostring
---@param fields? table<string, any> converted like JSON
function log.warn(msg, fields) end

---@param msg any converted like tostring
---@param fields? table<string, any> converted like JSON
function log.error(msg, fields) end

------------------------------------------------------------------------
-- json
------------------------------------------------------------------------

---JSON encoding and decoding (strings up to 1 MiB, nesting up to 128).
json = {}

---Encodes a value: tables with keys exactly 1..n are arrays, other tables
---objects with sorted keys; {} is {}; json.null is null.
---@param v any
---@return string
function json.encode(v) end

---Decodes a JSON text: objects and arrays become tables (arrays 1-based),
---null becomes nil.
---@param s string
---@return any
function json.decode(s) end

---The value that json.encode writes as null.
---@type userdata
json.null = nil

------------------------------------------------------------------------
-- kv: a small persistent store per plugin
------------------------------------------------------------------------

---A persistent key-value store of this plugin's own (keys 1..256 bytes,
---values up to 64 KiB; store tables with json.encode), held to a quota
---([plugins] kv_max_keys, kv_max_bytes: 100,000 keys, 64 MiB by default;
---past it kv.set fails the run). Only while handle runs. Store failures
---make the run retried.
kv = {}

---@param key string
---@return string|nil value nil when the key is not set
function kv.get(key) end

---@param key string
---@param value string|number numbers are stored as text
function kv.set(key, value) end

---@param key string
function kv.delete(key) end

------------------------------------------------------------------------
-- retry
------------------------------------------------------------------------

---Ends the run as a transient failure: the event is processed again later
---with exponential backoff, not before `seconds` when given. After the last
---attempt the rule is dead-lettered. Does not return.
---@param reason? string why (kept in the delivery log)
---@param seconds? number 0 to 604800: the earliest retry
function retry(reason, seconds) end
