package api

import (
	"net/http"
	"slices"

	"keyserver/internal/keyserver"
)

// meBody is the answer of GET /api/me: who the caller is to the Keyserver,
// its roles, and how each trust policy of its issuer fared against its token.
type meBody struct {
	Issuer   string             `json:"issuer"`
	Subject  string             `json:"subject"`
	Kind     string             `json:"kind"`
	Name     string             `json:"name"`
	Roles    []string           `json:"roles"`
	Policies []policyResultView `json:"policies"`
}

// policyResultView explains one policy: whether it matched, and each condition.
type policyResultView struct {
	ID          string                `json:"id"`
	Description string                `json:"description,omitempty"`
	Matched     bool                  `json:"matched"`
	Roles       []string              `json:"roles"`
	Refusal     string                `json:"refusal,omitempty"`
	Conditions  []conditionResultView `json:"conditions"`
}

type conditionResultView struct {
	conditionView
	Actual *string `json:"actual"` // null when the token has no such claim
	OK     bool    `json:"ok"`
	Reason string  `json:"reason"`
}

func newMeBody(me *keyserver.Me) meBody {
	c := me.Caller
	roles := []string{}
	for _, r := range c.Roles {
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	body := meBody{Issuer: c.Issuer, Subject: c.Subject, Kind: c.Kind.String(), Name: c.Name, Roles: roles, Policies: []policyResultView{}}
	for _, r := range me.Policies {
		v := policyResultView{ID: r.Policy.ID, Description: r.Policy.Description, Matched: r.Matched, Roles: r.Policy.Roles,
			Refusal: r.Refusal, Conditions: []conditionResultView{}}
		for _, cr := range r.Conditions {
			cv := conditionResultView{conditionView: viewCondition(cr.Condition), OK: cr.OK, Reason: cr.Reason}
			if cr.Present {
				actual := cr.Actual
				cv.Actual = &actual
			}
			v.Conditions = append(v.Conditions, cv)
		}
		body.Policies = append(body.Policies, v)
	}
	return body
}

// me answers any verified caller, with or without roles, with its identity,
// roles and the trust policies' verdicts on its token.
func (s *Server) me(w http.ResponseWriter, r *http.Request, id keyserver.Identity) error {
	me, err := s.Service.Me(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newMeBody(me))
	return nil
}
