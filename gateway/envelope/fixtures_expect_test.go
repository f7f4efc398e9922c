package envelope

// Expected envelopes of the payload files, read off the files by hand. Each
// lists the fields that apply; every other field must be empty. Payload,
// Event, Commands and Command are checked by the tests themselves.

const (
	shaMR       = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
	shaNoteMR   = "562e173be03b8ff2efb05345d12df18815438a4b"
	shaCommit   = "cfe32cf61b73a0d5e9f13e774abde7ff789b1660"
	shaTagPush  = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
	exampleCom  = "http://example.com"
	exampleComS = "https://example.com"
)

var (
	projGitlabTest   = Project{ID: 5, Path: "gitlab-org/gitlab-test", URL: "http://example.com/gitlab-org/gitlab-test"}
	projGitlabhqTest = Project{ID: 5, Path: "gitlabhq/gitlab-test", URL: "http://example.com/gitlabhq/gitlab-test"}
	projDiaspora     = Project{ID: 15, Path: "mike/diaspora", URL: "http://example.com/mike/diaspora"}
	projExample      = Project{ID: 1, Path: "jsmith/example", URL: "http://example.com/jsmith/example"}
	projFlight       = Project{ID: 7, Path: "flightjs/Flight", URL: "https://example.com/flightjs/Flight"}
	userRoot         = User{Username: "root", Name: "Administrator"}
	userRoot1        = User{ID: 1, Username: "root", Name: "Administrator"}
	userUser1        = User{ID: 42, Username: "user1", Name: "User1"}
)

// sharedWant is keyed by file name in the shared fixtures folder.
var sharedWant = map[string]Envelope{
	"push.json": {
		Kind: "push", Instance: exampleCom, Project: projDiaspora,
		User: User{ID: 4, Name: "John Smith"},
		Ref:  "refs/heads/master", Branch: "master", SHA: shaMR,
	},
	"tag_push.json": {
		Kind: "tag_push", Instance: exampleCom, Project: projExample,
		User: User{ID: 1, Name: "John Smith"},
		Ref:  "refs/tags/v1.0.0", Tag: "v1.0.0", SHA: shaTagPush,
	},
	"issue.json": {
		Kind: "issue", Action: "open", Instance: exampleCom,
		// No project id in "project": object_attributes.project_id.
		Project: Project{ID: 14, Path: "gitlabhq/gitlab-test", URL: "http://example.com/gitlabhq/gitlab-test"},
		User:    userRoot,
		Issue:   Issue{IID: 23, Title: "New API: create/update/delete file", State: "opened"},
	},
	"merge_request.json": {
		Kind: "merge_request", Action: "open", Instance: exampleCom,
		// No "project": the MR's target project.
		Project: Project{ID: 14, Path: "awesome_space/awesome_project", URL: "http://example.com/awesome_space/awesome_project"},
		User:    userRoot,
		Ref:     "ms-viewport", Branch: "ms-viewport", SHA: shaMR,
		MergeRequest: MergeRequest{IID: 1, Title: "MS-Viewport", State: "opened",
			SourceBranch: "ms-viewport", TargetBranch: "master", SourceProjectID: 14},
	},
	"note_commit.json": {
		Kind: "note", Instance: exampleCom, Project: projGitlabhqTest,
		User: userRoot1, // user has no id: object_attributes.author_id
		SHA:  shaCommit, Note: "This is a commit comment. How does this work?",
		NoteableType: "Commit", NoteID: 1243,
	},
	"note_merge_request.json": {
		Kind: "note", Instance: exampleCom, Project: projGitlabTest, User: userRoot1,
		Ref: "master", Branch: "master", SHA: shaNoteMR,
		Note: "This MR needs work.", NoteableType: "MergeRequest", NoteID: 1244,
		MergeRequest: MergeRequest{IID: 1, Title: "Tempora et eos debitis quae laborum et.", State: "opened",
			SourceBranch: "master", TargetBranch: "markdown", SourceProjectID: 5},
	},
	"note_issue.json": {
		Kind: "note", Instance: exampleCom, Project: projGitlabTest, User: userRoot1,
		Note: "Hello world", NoteableType: "Issue", NoteID: 1241,
		Issue: Issue{IID: 17, Title: "test", State: "closed"},
	},
	"note_snippet.json": {
		Kind: "note", Instance: exampleCom, Project: projGitlabTest, User: userRoot1,
		Note: "Is this snippet doing what it's supposed to be doing?", NoteableType: "Snippet", NoteID: 1245,
	},
}

// clientGoWant is keyed by "webhooks/NAME.json" or "systemhooks/NAME.json"
// in client-go's testdata.
var clientGoWant = map[string]Envelope{
	"webhooks/build.json": {
		Kind: "build", Instance: "http://192.168.64.1:3005",
		// No project object: project_id and repository.homepage.
		Project: Project{ID: 380, Path: "gitlab-org/gitlab-test", URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test"},
		User:    userUser1,
		Ref:     "gitlab-script-trigger", Branch: "gitlab-script-trigger",
		SHA: "2293ada6b400935a1378653304eaf6221e0fdb8f",
	},
	"webhooks/job.json": {
		Kind: "build", Instance: "https://gitlab.com",
		Project: Project{ID: 31537070, Path: "jsmithy2/release-tools-fake", URL: "https://gitlab.com/jsmithy2/release-tools-fake"},
		User:    User{ID: 2967854, Username: "jsmithy2", Name: "John Smith"},
		Ref:     "main", Branch: "main", SHA: "95d49d1efbd941908580e79d65e4b5ecaf4a8305",
	},
	"webhooks/deployment.json": {
		Kind: "deployment", Instance: "http://10.126.0.2:3000",
		Project: Project{ID: 30, Path: "root/test-deployment-webhooks", URL: "http://10.126.0.2:3000/root/test-deployment-webhooks"},
		User:    userUser1,
		Ref:     "1.0.0", SHA: "279484c09fbe69ededfced8c1bb6e6d24616b468",
	},
	"webhooks/emoji_issue.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
		Issue: Issue{IID: 1, Title: "Test Issue", State: "opened"},
	},
	"webhooks/emoji_merge_request.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
		Ref: "feature/test", Branch: "feature/test",
		MergeRequest: MergeRequest{IID: 1, Title: "Test Merge Request", State: "opened",
			SourceBranch: "feature/test", TargetBranch: "master", SourceProjectID: 7},
	},
	"webhooks/emoji_note_commit.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
		SHA: shaCommit,
	},
	"webhooks/emoji_note_issue.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
		Issue: Issue{IID: 1, Title: "Test Issue", State: "opened"},
	},
	"webhooks/emoji_note_merge_request.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
		Ref: "feature/test", Branch: "feature/test",
		MergeRequest: MergeRequest{IID: 1, Title: "Test Merge Request", State: "opened",
			SourceBranch: "feature/test", TargetBranch: "master", SourceProjectID: 7},
	},
	"webhooks/emoji_note_snippet.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
	},
	"webhooks/emoji_snippet.json": {
		Kind: "emoji", Action: "award", Instance: exampleComS, Project: projFlight, User: userRoot1,
	},
	"webhooks/feature_flag.json": {
		Kind: "feature_flag", Instance: exampleCom,
		Project: Project{ID: 1, Path: "gitlabhq/gitlab-test", URL: "http://example.com/gitlabhq/gitlab-test"},
		User:    userRoot1,
	},
	"webhooks/group_merge_request.json": {
		// Its object_attributes keys end with a space ("iid "), so only
		// what sits elsewhere is found.
		Kind: "merge_request", Action: "merge", Instance: exampleCom,
		Project: Project{Path: "exm-namespace/example-project", URL: "http://example.com/exm-namespace/example-project"},
		User:    userUser1,
		SHA:     "61b6a0d35dbaf915760233b637622e383d3cc9ec",
	},
	"webhooks/issue.json": {
		Kind: "issue", Action: "open", Instance: exampleCom,
		Project: Project{ID: 1, Path: "gitlabhq/gitlab-test", URL: "http://example.com/gitlabhq/gitlab-test"},
		User:    userRoot1,
		Issue:   Issue{IID: 23, Title: "New API: create/update/delete file", State: "opened", Labels: []string{"API"}},
		Labels:  []string{"API"},
	},
	"webhooks/member.json": {
		Kind: "user_add_to_group",
		User: User{ID: 64, Username: "user1", Name: "User1"},
	},
	"webhooks/merge_request.json": {
		Kind: "merge_request", Action: "open", Instance: exampleCom,
		Project: Project{ID: 1, Path: "gitlabhq/gitlab-test", URL: "http://example.com/gitlabhq/gitlab-test"},
		User:    User{ID: 1, Username: "user1", Name: "User1"},
		Ref:     "ms-viewport", Branch: "ms-viewport", SHA: shaMR, System: true,
		MergeRequest: MergeRequest{IID: 1, Title: "MS-Viewport", State: "opened",
			SourceBranch: "ms-viewport", TargetBranch: "master", SourceProjectID: 14, Labels: []string{"API"}},
		Labels: []string{"API"},
	},
	"webhooks/milestone_group.json": {
		Kind: "milestone", Action: "create",
	},
	"webhooks/milestone_project.json": {
		Kind: "milestone", Action: "create", Instance: exampleComS, Project: projFlight,
	},
	"webhooks/note_commit.json": {
		Kind: "note", Action: "create", Instance: exampleCom,
		Project: projGitlabhqTest, User: userUser1, SHA: shaCommit,
		Note: "This is a commit comment. How does this work?", NoteableType: "Commit", NoteID: 1243,
	},
	"webhooks/note_issue.json": {
		Kind: "note", Action: "create", Instance: exampleCom, Project: projGitlabTest, User: userUser1,
		Note: "Hello world", NoteableType: "Issue", NoteID: 1241,
		Issue:  Issue{IID: 17, Title: "test_issue", State: "closed", Labels: []string{"Afterpod", "Element"}},
		Labels: []string{"Afterpod", "Element"},
	},
	"webhooks/note_merge_request.json": {
		Kind: "note", Action: "create", Instance: exampleCom, Project: projGitlabTest, User: userRoot1,
		Ref: "master", Branch: "master", SHA: shaNoteMR,
		Note: "This MR needs work.", NoteableType: "MergeRequest", NoteID: 1244,
		MergeRequest: MergeRequest{IID: 1, Title: "Tempora et eos debitis quae laborum et.", State: "opened",
			SourceBranch: "master", TargetBranch: "markdown", SourceProjectID: 5, Labels: []string{"Afterpod", "Element"}},
		Labels: []string{"Afterpod", "Element"},
	},
	"webhooks/note_snippet.json": {
		Kind: "note", Action: "create", Instance: exampleCom, Project: projGitlabTest, User: userUser1,
		Note: "Is this snippet doing what it's supposed to be doing?", NoteableType: "Snippet", NoteID: 1245,
	},
	"webhooks/pipeline.json": {
		Kind: "pipeline", Instance: "http://192.168.64.1:3005",
		Project: Project{ID: 1, Path: "gitlab-org/gitlab-test", URL: "http://192.168.64.1:3005/gitlab-org/gitlab-test"},
		User:    userUser1,
		Ref:     "master", Branch: "master", SHA: "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
		MergeRequest: MergeRequest{IID: 1, Title: "Test", State: "opened",
			SourceBranch: "test", TargetBranch: "master", SourceProjectID: 1},
	},
	"webhooks/project.json": {
		Kind: "project_create", Project: Project{ID: 7, Path: "flightjs/flight"},
	},
	"webhooks/push.json": {
		Kind: "push", Instance: exampleCom, Project: projDiaspora,
		User: User{ID: 4, Username: "jsmith", Name: "John Smith"},
		Ref:  "refs/heads/master", Branch: "master", SHA: shaMR,
	},
	"webhooks/release.json": {
		Kind: "release", Action: "create", Instance: exampleCom,
		Project: Project{ID: 327622, Path: "exm-namespace/example-project", URL: "http://example.com/exm-namespace/example-project"},
		Tag:     "1.0.0", SHA: "2626dbdb936782b5c54816b1c6d45b1279303c6d",
	},
	"webhooks/resource_access_token_group.json": {
		Kind: "access_token",
	},
	"webhooks/resource_access_token_project.json": {
		Kind: "access_token", Instance: exampleComS, Project: projFlight,
	},
	"webhooks/service_merge_request.json": {
		Kind: "merge_request", Action: "update", Instance: "http://10.40.8.5:3200",
		Project: Project{ID: 2, Path: "test/woodpecker", URL: "http://10.40.8.5:3200/test/woodpecker"},
		User:    User{ID: 2, Username: "test", Name: "the test"},
		Ref:     "next-feature", Branch: "next-feature", SHA: "0ab96a10266b95b4b533dcfd98738015fbe70889",
		MergeRequest: MergeRequest{IID: 2, Title: "Update client.go 🎉", State: "opened",
			SourceBranch: "next-feature", TargetBranch: "master", SourceProjectID: 2},
	},
	"webhooks/subgroup.json": {
		Kind: "subgroup_create",
	},
	"webhooks/tag_push.json": {
		Kind: "tag_push", Instance: exampleCom, Project: projExample,
		User: User{ID: 1, Username: "jsmith", Name: "John Smith"},
		Ref:  "refs/tags/v1.0.0", Tag: "v1.0.0", SHA: shaTagPush,
	},
	"webhooks/vulnerability.json": {
		// Only object_attributes: project_id, and the path from its URL.
		Kind: "vulnerability", Instance: exampleComS, Project: projFlight,
	},
	"webhooks/wiki_page.json": {
		Kind: "wiki_page", Action: "create", Instance: exampleCom,
		Project: Project{ID: 1, Path: "root/awesome-project", URL: "http://example.com/root/awesome-project"},
		User:    User{Username: "user1", Name: "User1"},
	},

	"systemhooks/group_create.json":  {Kind: "group_create"},
	"systemhooks/group_destroy.json": {Kind: "group_destroy"},
	"systemhooks/group_rename.json":  {Kind: "group_rename"},
	"systemhooks/key_create.json":    {Kind: "key_create", User: User{Username: "root"}},
	"systemhooks/key_destroy.json":   {Kind: "key_destroy", User: User{Username: "root"}},
	"systemhooks/merge_request.json": {
		Kind: "merge_request", Instance: exampleCom,
		// "project" has no id: the MR's target_project_id.
		Project: Project{ID: 14, Path: "jsmith/example", URL: "http://example.com/jsmith/example"},
		User:    userRoot,
		Ref:     "ms-viewport", Branch: "ms-viewport", SHA: "ba3e0d8ff79c80d5b0bbb4f3e2e343e0aaa662b7",
		MergeRequest: MergeRequest{IID: 1, Title: "MS-Viewport", State: "opened",
			SourceBranch: "ms-viewport", TargetBranch: "master", SourceProjectID: 14},
	},
	"systemhooks/project_create.json":   {Kind: "project_create", Project: Project{ID: 74, Path: "jsmith/storecloud"}},
	"systemhooks/project_destroy.json":  {Kind: "project_destroy", Project: Project{ID: 73, Path: "jsmith/underscore"}},
	"systemhooks/project_rename.json":   {Kind: "project_rename", Project: Project{ID: 73, Path: "jsmith/underscore"}},
	"systemhooks/project_transfer.json": {Kind: "project_transfer", Project: Project{ID: 73, Path: "scores/underscore"}},
	"systemhooks/project_update.json":   {Kind: "project_update", Project: Project{ID: 74, Path: "jsmith/storecloud"}},
	"systemhooks/push.json": {
		Kind: "push", Instance: exampleCom, Project: projDiaspora,
		User: User{ID: 4, Name: "John Smith"},
		Ref:  "refs/heads/master", Branch: "master", SHA: shaMR,
	},
	"systemhooks/repository_update.json": {
		Kind: "repository_update", Instance: exampleCom, Project: projExample,
		User: User{ID: 1, Name: "John Smith"},
		Ref:  "refs/heads/master", Branch: "master", SHA: "4045ea7a3df38697b3730a20fb73c8bed8a3e69e",
	},
	"systemhooks/tag_push.json": {
		Kind: "tag_push", Instance: exampleCom, Project: projExample,
		User: User{ID: 1, Name: "John Smith"},
		Ref:  "refs/tags/v1.0.0", Tag: "v1.0.0", SHA: "5937ac0a7beb003549fc5fd26fc247adbce4a52e",
	},
	"systemhooks/user_add_to_group.json": {Kind: "user_add_to_group", User: User{ID: 41, Username: "johnsmith", Name: "John Smith"}},
	"systemhooks/user_add_to_team.json": {
		Kind: "user_add_to_team", Project: Project{ID: 74, Path: "jsmith/storecloud"},
		User: User{ID: 41, Username: "johnsmith", Name: "John Smith"},
	},
	"systemhooks/user_create.json":       {Kind: "user_create", User: User{ID: 41, Username: "js", Name: "John Smith"}},
	"systemhooks/user_destroy.json":      {Kind: "user_destroy", User: User{ID: 41, Username: "js", Name: "John Smith"}},
	"systemhooks/user_failed_login.json": {Kind: "user_failed_login", User: User{ID: 26, Username: "user4", Name: "John Smith"}},
	"systemhooks/user_remove_from_group.json": {
		Kind: "user_remove_from_group", User: User{ID: 41, Username: "johnsmith", Name: "John Smith"},
	},
	"systemhooks/user_remove_from_team.json": {
		Kind: "user_remove_from_team", Project: Project{ID: 74, Path: "jsmith/storecloud"},
		User: User{ID: 41, Username: "johnsmith", Name: "John Smith"},
	},
	"systemhooks/user_rename.json": {Kind: "user_rename", User: User{ID: 58, Username: "new-exciting-name", Name: "new-name"}},
	"systemhooks/user_update_for_group.json": {
		Kind: "user_update_for_group", User: User{ID: 41, Username: "johnsmith", Name: "John Smith"},
	},
	"systemhooks/user_update_for_team.json": {
		Kind: "user_update_for_team", Project: Project{ID: 74, Path: "jsmith/storecloud"},
		User: User{ID: 41, Username: "johnsmith", Name: "John Smith"},
	},
}
