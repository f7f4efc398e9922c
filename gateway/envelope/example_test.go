package envelope_test

import (
	"errors"
	"fmt"

	"github.com/hookgate/hookgate/gateway/envelope"
)

func ExampleNormalize() {
	body := []byte(`{
	  "object_kind": "note",
	  "user": {"id": 7, "username": "alice", "name": "Alice"},
	  "project": {"id": 5, "path_with_namespace": "group/app", "web_url": "https://gitlab.example.com/group/app"},
	  "object_attributes": {"id": 99, "note": "Looks good.\n/packit build --chroot fedora-rawhide", "noteable_type": "MergeRequest", "action": "create"},
	  "merge_request": {"iid": 3, "source_branch": "fix", "target_branch": "main", "last_commit": {"id": "abc123"},
	                    "labels": [{"title": "bug"}]}
	}`)
	e, err := envelope.Normalize("Note Hook", body, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Kind, e.Action, e.Instance, e.Project.Path)
	fmt.Println(e.User.Username, e.NoteableType, e.MergeRequest.IID, e.Branch, e.SHA, e.Labels)
	fmt.Printf("%s %q\n", e.Command.Name, e.Command.Args)
	// Output:
	// note create https://gitlab.example.com group/app
	// alice MergeRequest 3 fix abc123 [bug]
	// packit ["build" "--chroot" "fedora-rawhide"]
}

func ExampleSyntaxError() {
	_, err := envelope.Normalize("Push Hook", []byte(`[{"object_kind": "push"}]`), "")
	var se *envelope.SyntaxError
	fmt.Println(errors.As(err, &se), err)
	// Output:
	// true normalize: body is a JSON array, not an object (at byte 0)
}
