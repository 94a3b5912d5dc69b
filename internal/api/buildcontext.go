package api

import "keyserver/internal/keyserver"

// buildContextView is an operation's build context on the wire
// ("buildcontext" of GET /api/operations/{id}): where it came from, as the
// requester's CI token said. The UI and notifications show it to approvers.
type buildContextView struct {
	Platform     string `json:"platform"`
	Repository   string `json:"repository"`
	RepositoryID string `json:"repositoryid"`
	Ref          string `json:"ref"`
	SHA          string `json:"sha"`
	Workflow     string `json:"workflow"`
	JobWorkflow  string `json:"jobworkflow,omitempty"`
	RunID        string `json:"runid"`
	RunAttempt   string `json:"runattempt,omitempty"`
	Job          string `json:"job,omitempty"`
	Actor        string `json:"actor"`
	Event        string `json:"event"`
	Environment  string `json:"environment,omitempty"`
	RunURL       string `json:"runurl,omitempty"`
}

func viewBuildContext(bc *keyserver.BuildContext) *buildContextView {
	if bc == nil {
		return nil
	}
	v := buildContextView(*bc)
	return &v
}
