package api

import (
	"net/http"

	"keyserver/internal/keyserver"
)

// conditionView is a policy condition on the wire: the claim and either
// "equals" (an exact value) or "glob" (a path.Match pattern on a path or ref).
type conditionView struct {
	Claim  string `json:"claim"`
	Equals string `json:"equals,omitempty"`
	Glob   string `json:"glob,omitempty"`
}

// policyBody is the body of PUT /api/admin/policies; the id is in the path
// or the id query parameter.
type policyBody struct {
	Issuer      string          `json:"issuer"`
	Description string          `json:"description"`
	Conditions  []conditionView `json:"conditions"`
	Roles       []string        `json:"roles"`
}

// policyView is a policy as the admin routes answer it.
type policyView struct {
	ID string `json:"id"`
	policyBody
}

func viewCondition(c keyserver.Condition) conditionView {
	if c.Glob {
		return conditionView{Claim: c.Claim, Glob: c.Value}
	}
	return conditionView{Claim: c.Claim, Equals: c.Value}
}

func viewPolicy(p *keyserver.Policy) policyView {
	v := policyView{ID: p.ID, policyBody: policyBody{Issuer: p.Issuer, Description: p.Description, Roles: p.Roles, Conditions: []conditionView{}}}
	for _, c := range p.Conditions {
		v.Conditions = append(v.Conditions, viewCondition(c))
	}
	return v
}

func (b *policyBody) domain(id string) (*keyserver.Policy, error) {
	p := &keyserver.Policy{ID: id, Issuer: b.Issuer, Description: b.Description, Roles: b.Roles}
	for _, c := range b.Conditions {
		switch {
		case (c.Equals == "") == (c.Glob == ""):
			return nil, keyserver.Errorf(keyserver.EINVALID, "The condition on %q needs exactly one of equals or glob.", c.Claim).On("conditions")
		case c.Glob != "":
			p.Conditions = append(p.Conditions, keyserver.Condition{Claim: c.Claim, Value: c.Glob, Glob: true})
		default:
			p.Conditions = append(p.Conditions, keyserver.Condition{Claim: c.Claim, Value: c.Equals})
		}
	}
	return p, nil
}

// itemID is the id of an admin route's item: the {id} path segment, or the
// id query parameter, which carries ids with / (GitHub subjects, policy
// ids) through any proxy and the Functions host unchanged.
func itemID(r *http.Request) (string, error) {
	path, query := r.PathValue("id"), r.URL.Query().Get("id")
	switch {
	case path != "" && query != "" && path != query:
		return "", keyserver.Errorf(keyserver.EINVALID, "The id is given twice, differently, in the path and the id query parameter.")
	case path != "":
		return path, nil
	case query != "":
		return query, nil
	}
	return "", keyserver.Errorf(keyserver.EINVALID, "Give the id in the path or, when it holds a /, as the id query parameter (?id=...).")
}

// getPolicies lists every policy, or answers one with ?id=.
func (s *Server) getPolicies(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	if r.URL.Query().Has("id") {
		return s.getPolicy(w, r, c)
	}
	ps, err := s.Service.AdminPolicies(r.Context(), c)
	if err != nil {
		return err
	}
	views := make([]policyView, len(ps))
	for i, p := range ps {
		views[i] = viewPolicy(p)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	id, err := itemID(r)
	if err != nil {
		return err
	}
	p, err := s.Service.AdminPolicy(r.Context(), c, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewPolicy(p))
	return nil
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	id, err := itemID(r)
	if err != nil {
		return err
	}
	var body policyBody
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	p, err := body.domain(id)
	if err != nil {
		return err
	}
	if err := s.Service.PutPolicy(r.Context(), c, p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewPolicy(p))
	return nil
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	id, err := itemID(r)
	if err != nil {
		return err
	}
	if err := s.Service.DeletePolicy(r.Context(), c, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
