package api

import (
	"net/http"
	"time"

	"keyserver/internal/keyserver"
)

// view shows op on the wire as it stands now, by the service's clock.
func (s *Server) view(op *keyserver.Operation) Operation {
	now := time.Now()
	if s.Service.Now != nil {
		now = s.Service.Now()
	}
	return wireOperation(op, now)
}

func (s *Server) createOperation(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var req OperationRequest
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	op, err := s.Service.CreateOperation(r.Context(), c, req.domain())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/operations/"+op.ID)
	writeJSON(w, http.StatusCreated, s.view(op))
	return nil
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	op, err := s.Service.Operation(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(op))
	return nil
}

func (s *Server) listOperations(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	ops, err := s.Service.Operations(r.Context(), c, keyserver.Status(r.URL.Query().Get("status")))
	if err != nil {
		return err
	}
	views := make([]Operation, len(ops))
	for i, op := range ops {
		views[i] = s.view(op)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var body ApproveRequest
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	op, err := s.Service.Approve(r.Context(), c, r.PathValue("id"), body.Comment)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(op))
	return nil
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var body RejectRequest
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	op, err := s.Service.Reject(r.Context(), c, r.PathValue("id"), body.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(op))
	return nil
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var body struct{}
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	op, err := s.Service.Cancel(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(op))
	return nil
}

func (s *Server) signOrder(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var order SignOrder
	if err := decode(w, r, &order, false); err != nil {
		return err
	}
	res, err := s.Service.Sign(r.Context(), c, order.domain())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wireSignResult(res))
	return nil
}
