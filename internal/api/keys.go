package api

import (
	"net/http"

	"keyserver/internal/keyserver"
)

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	keys, err := s.Service.KeysFor(r.Context(), c)
	if err != nil {
		return err
	}
	views := make([]Key, len(keys))
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
