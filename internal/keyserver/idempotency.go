package keyserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// MaxIdempotencyKeyLength bounds an Idempotency-Key.
const MaxIdempotencyKeyLength = 255

// IdempotencyRecord binds a requester's Idempotency-Key to the request it
// came with and the operation that request opened. Keys of one requester
// never meet those of another.
type IdempotencyRecord struct {
	Requester   Principal
	Key         string
	Fingerprint string
	OperationID string
	Created     time.Time
}

// ValidateIdempotencyKey accepts 1 to 255 visible ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLength {
		return Errorf(EINVALID, "The Idempotency-Key header must be 1 to %d characters long.", MaxIdempotencyKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return Errorf(EINVALID, "The Idempotency-Key header may hold visible ASCII characters only.")
		}
	}
	return nil
}

// Fingerprint identifies what the request asks for: the validity, the
// description and the keys with their counts, in any order.
func (r *OperationRequest) Fingerprint() string {
	type key struct { // spelled out: KeyRequest carries no tags
		KeyID         string `json:"keyid"`
		MaxUsageCount int    `json:"maxusagecount"`
	}
	keys := make([]key, len(r.Keys))
	for i, k := range r.Keys {
		keys[i] = key{k.KeyID, k.MaxUsageCount}
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.KeyID, b.KeyID) })
	b, err := json.Marshal(struct {
		ValidMS     int64  `json:"validms"`
		Description string `json:"description"`
		Keys        []key  `json:"keys"`
	}{r.ValidMS, r.Description, keys})
	if err != nil {
		panic("keyserver: encoding a request fingerprint: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CreateOperationOnce is CreateOperation under an Idempotency-Key: the first
// request with key opens the operation, a later one with the same key and
// the same request gets that operation back (created is false), and one with
// the same key and another request is refused with ECONFLICT.
func (s *Service) CreateOperationOnce(ctx context.Context, c Caller, req *OperationRequest, key string) (op *Operation, created bool, err error) {
	if err := ValidateIdempotencyKey(key); err != nil {
		return nil, false, err
	}
	op, err = s.newOperation(ctx, c, req)
	if err != nil {
		return nil, false, err
	}
	rec := IdempotencyRecord{Requester: c.Principal, Key: key, Fingerprint: req.Fingerprint(), OperationID: op.ID, Created: op.Created}
	stored, fresh, err := s.Ops.ClaimIdempotencyKey(ctx, rec)
	if err != nil {
		return nil, false, err
	}
	if !fresh {
		if stored.Requester != c.Principal || stored.Fingerprint != rec.Fingerprint {
			return nil, false, Errorf(ECONFLICT, "Idempotency-Key %q was already used for a different request (operation %s); use another key to open another operation.", key, stored.OperationID)
		}
		existing, err := s.Ops.Operation(ctx, stored.OperationID)
		if err == nil {
			return existing, false, nil
		}
		if ErrorCode(err) != ENOTFOUND {
			return nil, false, err
		}
		// The first request claimed the key but did not store its operation
		// (it failed, or is still at it): store it under the claimed id.
		op.ID = stored.OperationID
	}
	err = s.storeOperation(ctx, c, op)
	if !fresh && ErrorCode(err) == ECONFLICT {
		existing, err := s.Ops.Operation(ctx, op.ID)
		return existing, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return op, true, nil
}
