package localstack

import (
	"encoding/json"
	"net/http"

	"keyserver/internal/devauth/ciauth"
)

// authHandler serves the dev auth server with the CI platforms' stand-ins
// below it: <auth>/github and <auth>/gitlab.
func (st *Stack) authHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", st.Auth.Handler())
	mux.Handle("/github/", st.CI.Handler())
	mux.Handle("/gitlab/", st.CI.Handler())
	return mux
}

// trustedIssuers is KEYSERVER_TRUSTED_ISSUERS of the local stack: the dev
// auth server and the GitHub- and GitLab-shaped issuers, all for Audience.
func (st *Stack) trustedIssuers() string {
	type issuer struct {
		Issuer       string `json:"issuer"`
		Audience     string `json:"audience"`
		SubjectClaim string `json:"subjectclaim"`
		PersonClaim  string `json:"personclaim,omitempty"`
	}
	b, err := json.Marshal([]issuer{
		{st.AuthURL, Audience, "sub", "oid"},
		{ciauth.GitHubIssuerAt(st.AuthURL), Audience, "sub", ""},
		{ciauth.GitLabIssuerAt(st.AuthURL), Audience, "sub", ""},
	})
	if err != nil {
		panic("localstack: encoding the trusted issuers: " + err.Error())
	}
	return string(b)
}
