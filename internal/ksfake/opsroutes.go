package ksfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (f *Fake) serveOperations(w http.ResponseWriter, r *http.Request, subject string) {
	id, hasID := strings.CutPrefix(r.URL.Path, "/api/operations/")
	switch {
	case r.Method == http.MethodPost && !hasID:
		f.createOperation(w, r, subject)
	case r.Method == http.MethodGet && hasID:
		f.mu.Lock()
		f.ops.reads++
		op := f.ops.byID[id]
		var view map[string]any
		if op != nil && op.Requester == subject {
			view = op.view(f.now())
		}
		f.mu.Unlock()
		if view == nil {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("Operation %q does not exist.", id))
			return
		}
		writeJSON(w, http.StatusOK, view)
	default:
		writeError(w, http.StatusBadRequest, "invalid_request", "fake: unsupported request "+r.Method+" "+r.URL.Path)
	}
}

type createBody struct {
	ValidMS     int64  `json:"validms"`
	Description string `json:"description"`
	Keys        []struct {
		KeyID         string `json:"keyid"`
		MaxUsageCount int    `json:"maxusagecount"`
	} `json:"new-keyusagerestrictions"`
}

func (f *Fake) createOperation(w http.ResponseWriter, r *http.Request, subject string) {
	var body createBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "fake: "+err.Error())
		return
	}
	if body.ValidMS <= 0 || len(body.Description) < 8 || len(body.Keys) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "validms, a description of 8 characters or more and keys are required.")
		return
	}
	canon, _ := json.Marshal(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops.creates++
	idemKey := r.Header.Get("Idempotency-Key")
	if idemKey != "" {
		if e, ok := f.ops.idem[subject+"\x00"+idemKey]; ok {
			if e.body != string(canon) {
				writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("Idempotency-Key %q was already used for a different request (operation %s).", idemKey, e.opID))
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, http.StatusOK, f.ops.byID[e.opID].view(f.now()))
			return
		}
	}
	op, status, code, msg := f.newOp(subject, &body)
	if op == nil {
		writeError(w, status, code, msg)
		return
	}
	if f.ops.byID == nil {
		f.ops.byID, f.ops.idem = map[string]*Op{}, map[string]idemEntry{}
	}
	f.ops.byID[op.ID] = op
	if idemKey != "" {
		f.ops.idem[subject+"\x00"+idemKey] = idemEntry{opID: op.ID, body: string(canon)}
	}
	writeJSON(w, http.StatusCreated, op.view(f.now()))
}

// newOp must be called with f.mu held.
func (f *Fake) newOp(subject string, body *createBody) (*Op, int, string, string) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	now := f.now()
	op := &Op{ID: hex.EncodeToString(b), Requester: subject, Description: body.Description,
		Created: now, Expires: now.Add(time.Duration(body.ValidMS) * time.Millisecond)}
	for _, k := range body.Keys {
		if f.key(k.KeyID) == nil {
			return nil, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Key %q is not registered.", k.KeyID)
		}
		if k.MaxUsageCount < 1 {
			return nil, http.StatusBadRequest, "invalid_request", "maxusagecount must be at least 1."
		}
		op.Keys = append(op.Keys, OpKey{KeyID: k.KeyID, Max: k.MaxUsageCount, Required: f.Required[k.KeyID]})
	}
	return op, 0, "", ""
}

// view is the operation as the API answers it; must be called with f.mu held.
func (op *Op) view(now time.Time) map[string]any {
	keys := []map[string]any{}
	for _, k := range op.Keys {
		approvals := []map[string]any{}
		for _, a := range k.Approvers {
			approvals = append(approvals, map[string]any{"approver": map[string]string{"issuer": "https://fake.test", "subject": a}, "name": a, "time": op.Created})
		}
		keys = append(keys, map[string]any{"keyid": k.KeyID, "maxusagecount": k.Max, "usagecount": k.Used,
			"requiredapprovals": k.Required, "approvals": approvals})
	}
	status := op.status(now)
	v := map[string]any{"id": op.ID, "requester": map[string]string{"issuer": "https://fake.test", "subject": op.Requester},
		"description": op.Description, "created": op.Created, "expires": op.Expires, "keys": keys,
		"validms": op.Expires.Sub(op.Created).Milliseconds(), "approved": status == "approved", "status": status}
	for field, by := range map[string]string{"rejected": op.RejectedBy, "cancelled": op.CancelledBy} {
		if by != "" {
			v[field] = map[string]any{"by": map[string]string{"issuer": "https://fake.test", "subject": by}, "time": now, "reason": op.Reason}
		}
	}
	return v
}

// spendUse takes one use of keyID in subject's operation id, or says why not.
func (f *Fake) spendUse(subject, id, keyID string) (int, string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := f.ops.byID[id]
	if op == nil || op.Requester != subject {
		return http.StatusNotFound, "not_found", fmt.Sprintf("Operation %q does not exist.", id)
	}
	switch op.status(f.now()) {
	case "pending":
		return http.StatusConflict, "not_approved", fmt.Sprintf("Operation %s is not approved yet; wait for its approvers.", id)
	case "rejected", "cancelled":
		return http.StatusConflict, "operation_closed", fmt.Sprintf("Operation %s is %s.", id, op.status(f.now()))
	case "expired":
		return http.StatusGone, "expired", fmt.Sprintf("Operation %s expired.", id)
	}
	for i := range op.Keys {
		if op.Keys[i].KeyID != keyID {
			continue
		}
		if op.Keys[i].Used >= op.Keys[i].Max {
			return http.StatusConflict, "usage_exhausted", fmt.Sprintf("All %d uses of key %q in operation %s are spent.", op.Keys[i].Max, keyID, id)
		}
		op.Keys[i].Used++
		return 0, "", ""
	}
	return http.StatusForbidden, "forbidden", fmt.Sprintf("Operation %s does not name key %q.", id, keyID)
}
