package api

import (
	"net/http"

	"keyserver/internal/keyserver"
)

// keyView is a key as GET /api/keys returns it; the HSM reference stays internal.
type keyView struct {
	KeyID             string `json:"keyid"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Algorithm         string `json:"algorithm"`
	RequiredApprovals int    `json:"requiredapprovals"`
}

func viewKey(k *keyserver.Key) keyView {
	return keyView{KeyID: k.KeyID, KeyInfo: k.KeyInfo, Certificate: k.Certificate, Algorithm: k.Algorithm, RequiredApprovals: k.RequiredApprovals}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	keys, err := s.Service.KeysFor(r.Context(), c)
	if err != nil {
		return err
	}
	views := make([]keyView, len(keys))
	for i, k := range keys {
		views[i] = viewKey(k)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	k, err := s.Service.KeyFor(r.Context(), c, r.PathValue("keyid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewKey(k))
	return nil
}
