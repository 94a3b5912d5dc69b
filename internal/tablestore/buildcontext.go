package tablestore

import "keyserver/internal/keyserver"

// buildContextRow is an operation's build context as its op row keeps it:
// its own names, so that renaming a domain field does not change the table.
type buildContextRow struct {
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

func buildContextRowOf(bc *keyserver.BuildContext) buildContextRow {
	return buildContextRow(*bc)
}

func (r buildContextRow) domain() *keyserver.BuildContext {
	bc := keyserver.BuildContext(r)
	return &bc
}
