package tablestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"

	"keyserver/internal/keyserver"
)

// Idempotency records live in the operations table, one partition each:
// PartitionKey "idem~" and a hash of requester and key, RowKey "idem". They
// sort apart from operation partitions (hex ids) and have no "op" row, so
// listings of operations never see them.
const (
	idemPartitionPrefix = "idem~"
	idemRow             = "idem"
)

func idemPartition(p keyserver.Principal, key string) string {
	sum := sha256.Sum256([]byte(encodeKey(p.Issuer) + "|" + encodeKey(p.Subject) + "|" + encodeKey(key)))
	return idemPartitionPrefix + hex.EncodeToString(sum[:])
}

// ClaimIdempotencyKey inserts the record; when the requester already used
// the key, the insert conflicts and the stored record is returned instead.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, rec keyserver.IdempotencyRecord) (*keyserver.IdempotencyRecord, bool, error) {
	if !keyserver.ValidID(rec.OperationID) || rec.Fingerprint == "" {
		return nil, false, fmt.Errorf("idempotency record for operation %q is incomplete", rec.OperationID)
	}
	pk := idemPartition(rec.Requester, rec.Key)
	r := newRow(pk, idemRow).
		set("RequesterIssuer", rec.Requester.Issuer).
		set("RequesterSubject", rec.Requester.Subject).
		set("Key", rec.Key).
		set("Fingerprint", rec.Fingerprint).
		set("OperationID", rec.OperationID).
		setTime("Created", rec.Created)
	_, err := s.ops.AddEntity(ctx, r.marshal(), nil)
	if err == nil {
		stored := rec
		return &stored, true, nil
	}
	if status, _ := statusOf(err); status != http.StatusConflict {
		return nil, false, classify(err, "storing an idempotency key")
	}
	resp, err := s.ops.GetEntity(ctx, pk, idemRow, nil)
	if err != nil {
		return nil, false, classify(err, "reading an idempotency key")
	}
	got, err := parseRow(resp.Value)
	if err != nil {
		return nil, false, err
	}
	stored := &keyserver.IdempotencyRecord{
		Requester:   keyserver.Principal{Issuer: got.str("RequesterIssuer"), Subject: got.str("RequesterSubject")},
		Key:         got.str("Key"),
		Fingerprint: got.str("Fingerprint"),
		OperationID: got.str("OperationID"),
		Created:     got.time("Created"),
	}
	if stored.Requester != rec.Requester || stored.Key != rec.Key {
		return nil, false, fmt.Errorf("idempotency row %s belongs to another requester or key", pk)
	}
	return stored, false, nil
}
