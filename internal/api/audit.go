package api

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strconv"
	"time"

	"keyserver/internal/auditwire"
	"keyserver/internal/keyserver"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	q := r.URL.Query()
	f := keyserver.AuditFilter{OperationID: q.Get("operation"), KeyID: q.Get("key"), Subject: q.Get("subject"), Event: q.Get("event"), Page: q.Get("page")}
	var err error
	if f.From, err = queryTime(q.Get("from"), "from"); err != nil {
		return err
	}
	if f.To, err = queryTime(q.Get("to"), "to"); err != nil {
		return err
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 500 {
			return keyserver.Errorf(keyserver.EINVALID, "limit must be a number from 1 to 500.")
		}
	}
	recs, next, err := s.Service.AuditRecords(r.Context(), c, f)
	if err != nil {
		return err
	}
	page := auditwire.Page{Records: make([]auditwire.Record, len(recs)), Next: next}
	for i, rec := range recs {
		page.Records[i] = auditwire.RecordOf(rec)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func queryTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, keyserver.Errorf(keyserver.EINVALID, "%s must be an RFC 3339 time, e.g. 2026-11-30T04:00:00Z.", name)
	}
	return t, nil
}

func queryCheckpoint(v, name string, latest bool) (uint64, error) {
	if v == "" || (latest && v == "latest") {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, keyserver.Errorf(keyserver.EINVALID, "%s must be a checkpoint number (1 or more) or latest.", name)
	}
	return n, nil
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request, _ keyserver.Caller) error {
	certs, err := s.Service.AuditCertificates(r.Context())
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return keyserver.Errorf(keyserver.EUNAVAILABLE, "The audit key has no certificate yet.")
	}
	out := auditwire.Key{Certificates: make([]auditwire.KeyCertificate, len(certs))}
	for i, c := range certs {
		b, _ := pem.Decode([]byte(c.PEM))
		if b == nil {
			return keyserver.Errorf(keyserver.EINTERNAL, "The stored audit certificate %s is not PEM.", c.SHA256)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return keyserver.Wrap(keyserver.EINTERNAL, err, "The stored audit certificate %s is unreadable.", c.SHA256)
		}
		out.Certificates[i] = auditwire.KeyCertificate{Certificate: c.PEM, SHA256: keyserver.CertificateSHA256(b.Bytes), Record: c.Record}
	}
	out.Certificate, out.SHA256 = out.Certificates[0].Certificate, out.Certificates[0].SHA256
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	n, err := queryCheckpoint(r.PathValue("n"), "the checkpoint", true)
	if err != nil {
		return err
	}
	cp, err := s.Service.AuditCheckpoint(r.Context(), c, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditwire.CheckpointOf(cp))
	return nil
}

func (s *Server) auditInclusion(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	q := r.URL.Query()
	n, err := queryCheckpoint(q.Get("checkpoint"), "checkpoint", true)
	if err != nil {
		return err
	}
	if q.Get("record") == "" {
		return keyserver.Errorf(keyserver.EINVALID, "record must name an audit record, <chain>#<seq>.")
	}
	p, err := s.Service.InclusionProof(r.Context(), c, q.Get("record"), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditwire.Inclusion{Record: p.Record, LeafIndex: p.LeafIndex, LeafHash: p.LeafHash.String(),
		Checkpoint: p.Checkpoint.N, TreeSize: p.Checkpoint.Size, Root: p.Checkpoint.Root.String(), Proof: auditwire.HexHashes(p.Proof)})
	return nil
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error {
	q := r.URL.Query()
	from, err := queryCheckpoint(q.Get("from"), "from", false)
	if err != nil || from == 0 {
		return keyserver.Errorf(keyserver.EINVALID, "from must be a checkpoint number (1 or more).")
	}
	to, err := queryCheckpoint(q.Get("to"), "to", true)
	if err != nil {
		return err
	}
	p, err := s.Service.ConsistencyProof(r.Context(), c, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditwire.Consistency{From: p.From.N, To: p.To.N, FromSize: p.From.Size, ToSize: p.To.Size, Proof: auditwire.HexHashes(p.Proof)})
	return nil
}
