package api

import (
	"net/http"
	"slices"

	"keyserver/internal/keyserver"
)

// meBody is the answer of GET /api/me: who the caller is to the Keyserver.
type meBody struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
}

func newMeBody(c keyserver.Caller) meBody {
	roles := []string{}
	for _, r := range c.Roles {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return meBody{Issuer: c.Issuer, Subject: c.Subject, Kind: c.Kind.String(), Name: c.Name, Roles: roles}
}

// me answers any authenticated caller with its identity and roles.
func (s *Server) me(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	writeJSON(w, http.StatusOK, newMeBody(c))
	return nil
}
