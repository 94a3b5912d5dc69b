package api

import (
	"net/http"
	"net/url"

	"keyserver/internal/keyserver"
)

func (s *Server) createOperation(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	var req OperationRequest
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	op, created, err := s.createOnce(r, c, req.domain())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/operations/"+op.ID)
	status := http.StatusCreated
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	writeJSON(w, status, s.view(r.Context(), c, op))
	return nil
}

// createOnce creates the operation, once per Idempotency-Key when the
// request carries one; created is false when an earlier request with the
// same key opened it.
func (s *Server) createOnce(r *http.Request, c keyserver.Caller, req *keyserver.OperationRequest) (*keyserver.Operation, bool, error) {
	keys, ok := r.Header["Idempotency-Key"]
	if !ok {
		op, err := s.Service.CreateOperation(r.Context(), c, req)
		return op, err == nil, err
	}
	if len(keys) != 1 {
		return nil, false, keyserver.Errorf(keyserver.EINVALID, "The request carries more than one Idempotency-Key header.")
	}
	return s.Service.CreateOperationOnce(r.Context(), c, req, keys[0])
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	op, err := s.Service.Operation(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.view(r.Context(), c, op))
	return nil
}

func (s *Server) listOperations(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	q, err := operationQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ops, err := s.Service.Operations(r.Context(), c, q)
	if err != nil {
		return err
	}
	views := make([]Operation, len(ops))
	for i, op := range ops {
		views[i] = s.view(r.Context(), c, op)
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

// operationQuery reads ?status=, ?mine=1 and ?all=1.
func operationQuery(v url.Values) (keyserver.OperationQuery, error) {
	q := keyserver.OperationQuery{Status: keyserver.Status(v.Get("status"))}
	for name, dst := range map[string]*bool{"mine": &q.Mine, "all": &q.All} {
		switch v.Get(name) {
		case "", "0", "false":
		case "1", "true":
			*dst = true
		default:
			return q, keyserver.Errorf(keyserver.EINVALID, "%s must be 1 or 0.", name).On(name)
		}
	}
	return q, nil
}

func (s *Server) operationEvents(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	evs, err := s.Service.OperationEvents(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	views := make([]Event, len(evs))
	for i, ev := range evs {
		views[i] = Event{Time: ev.Time, Actor: s.principal(r.Context(), ev.Actor), Action: ev.Action,
			KeyID: ev.KeyID, Digest: ev.Digest, Result: ev.Result, Detail: ev.Detail}
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
	writeJSON(w, http.StatusOK, s.view(r.Context(), c, op))
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
	writeJSON(w, http.StatusOK, s.view(r.Context(), c, op))
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
	writeJSON(w, http.StatusOK, s.view(r.Context(), c, op))
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
	logAttrs(w, "reserve_ms", millis(res.Took.Reserve), "hsm_ms", millis(res.Took.HSM), "complete_ms", millis(res.Took.Complete))
	writeJSON(w, http.StatusCreated, viewSignResult(res))
	return nil
}
