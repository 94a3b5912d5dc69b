package api

import (
	"net/http"
	"slices"

	"keyserver/internal/keyserver"
)

func newMeBody(c keyserver.Caller) Me {
	roles := []string{}
	for _, r := range c.Roles {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return Me{Issuer: c.Issuer, Subject: c.Subject, Kind: c.Kind.String(), Name: c.Name, Roles: roles}
}

// me answers any authenticated caller with its identity and roles.
func (s *Server) me(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	writeJSON(w, http.StatusOK, newMeBody(c))
	return nil
}
