package api

import (
	"net/http"

	"keyserver/internal/keyserver"
)

// subjectPrincipal reads the subject id from the path and the issuer and
// kind from the query; either may be left out when the registrations of the
// id leave no doubt.
func (s *Server) subjectPrincipal(r *http.Request, c keyserver.Caller) (keyserver.Principal, error) {
	q := r.URL.Query()
	id, err := itemID(r)
	if err != nil {
		return keyserver.Principal{}, err
	}
	p := keyserver.Principal{Subject: id, Issuer: q.Get("issuer")}
	kind, err := keyserver.ParseKind(q.Get("kind"))
	if err != nil {
		return p, err
	}
	p.Kind = kind
	if p.Issuer != "" && q.Get("kind") != "" {
		return p, nil
	}
	subs, err := s.Service.SubjectsByID(r.Context(), c, p.Subject)
	if err != nil {
		return p, err
	}
	var found []keyserver.Principal
	for _, sub := range subs {
		if (p.Issuer == "" || sub.Issuer == p.Issuer) && (q.Get("kind") == "" || sub.Kind == p.Kind) {
			found = append(found, sub.Principal)
		}
	}
	switch len(found) {
	case 0:
		return p, keyserver.Errorf(keyserver.ENOTFOUND, "Subject %q is not registered.", p.Subject)
	case 1:
		return found[0], nil
	}
	return p, keyserver.Errorf(keyserver.EINVALID, "Subject %q is registered more than once (under several issuers, or as a person and an app); add ?issuer=<issuer>&kind=person|app.", p.Subject)
}

func (s *Server) getSubject(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	p, err := s.subjectPrincipal(r, c)
	if err != nil {
		return err
	}
	sub, err := s.Service.Subject(r.Context(), c, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSubject(sub))
	return nil
}

// getSubjects lists every subject, or answers one with ?id= (an id with /).
func (s *Server) getSubjects(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	if r.URL.Query().Has("id") {
		return s.getSubject(w, r, c)
	}
	return s.listSubjects(w, r, c)
}

func (s *Server) listSubjects(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	subs, err := s.Service.ListSubjects(r.Context(), c)
	if err != nil {
		return err
	}
	views := make([]Subject, len(subs))
	for i, sub := range subs {
		views[i] = viewSubject(sub)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

func (s *Server) listAdminKeys(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	keys, err := s.Service.AdminKeys(r.Context(), c)
	if err != nil {
		return err
	}
	views := make([]AdminKey, len(keys))
	for i, k := range keys {
		views[i] = viewAdminKey(k)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

func (s *Server) putSubject(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var body SubjectRegistration
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	kind, err := keyserver.ParseKind(body.Kind)
	if err != nil {
		return err
	}
	id, err := itemID(r)
	if err != nil {
		return err
	}
	sub := &keyserver.Subject{Principal: keyserver.Principal{Issuer: body.Issuer, Subject: id, Kind: kind}, Name: body.Name, Roles: body.Roles}
	if err := s.Service.PutSubject(r.Context(), c, sub); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewSubject(sub))
	return nil
}

func (s *Server) deleteSubject(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	p, err := s.subjectPrincipal(r, c)
	if err != nil {
		return err
	}
	if err := s.Service.DeleteSubject(r.Context(), c, p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getAdminKey(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	k, err := s.Service.AdminKey(r.Context(), c, r.PathValue("keyid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAdminKey(k))
	return nil
}

func (s *Server) putKey(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var body KeyRegistration
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	if body.RequiredApprovals == nil {
		// A missing policy must never silently mean "no approval needed".
		return keyserver.Errorf(keyserver.EINVALID, "requiredapprovals is required; give 0 explicitly for a key that needs no approval.").On("requiredapprovals")
	}
	k := &keyserver.Key{
		KeyID: r.PathValue("keyid"), HSMKey: body.HSMKey, RequiredApprovals: *body.RequiredApprovals,
		KeyInfo: body.KeyInfo, Certificate: body.Certificate, Enabled: body.Enabled == nil || *body.Enabled,
		Channels: channelsOf(body.Channels),
	}
	if err := s.Service.PutKey(r.Context(), c, k); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAdminKey(k))
	return nil
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	if err := s.Service.DeleteKey(r.Context(), c, r.PathValue("keyid")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
