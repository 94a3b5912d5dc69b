package keyserver_test

import (
	"context"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

func (f *fixture) createOnce(tb testing.TB, who, key string, req *keyserver.OperationRequest) (*keyserver.Operation, bool, error) {
	tb.Helper()
	return f.svc.CreateOperationOnce(context.Background(), f.mustCaller(tb, who), req, key)
}

func TestCreateOperationOnceReturnsTheSameOperation(t *testing.T) {
	f := newFixture(t)
	first, created, err := f.createOnce(t, "orderer", "run-1", request(kr("key2", 1), kr("key1", 2)))
	if err != nil || !created {
		t.Fatalf("first create = %v, created %v", err, created)
	}
	// The same request, keys in another order: the same operation, nothing new written.
	again, created, err := f.createOnce(t, "orderer", "run-1", request(kr("key1", 2), kr("key2", 1)))
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second create = %+v, created %v, %v; want operation %s again", again, created, err, first.ID)
	}
	if n := f.store.OpCount(); n != 1 {
		t.Fatalf("%d operations stored, want 1", n)
	}
	if evs := f.notes.events(); len(evs) != 1 {
		t.Fatalf("notifications %v, want one created", evs)
	}
	// Another key, or another requester with the same key, opens another operation.
	other, created, err := f.createOnce(t, "orderer", "run-2", request(kr("key2", 1), kr("key1", 2)))
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("create with another key = %v, created %v, id %s", err, created, other.ID)
	}
	theirs, created, err := f.createOnce(t, "ordapp", "run-1", request(kr("key2", 1), kr("key1", 2)))
	if err != nil || !created || theirs.ID == first.ID || theirs.Requester != principal("ordapp") {
		t.Fatalf("another requester's create = %+v, created %v, %v", theirs, created, err)
	}
}

func TestCreateOperationOnceRefusesAnotherRequestWithTheSameKey(t *testing.T) {
	for name, req := range map[string]*keyserver.OperationRequest{
		"other count":       request(kr("key2", 2)),
		"other key":         request(kr("key1", 1)),
		"other description": {ValidMS: 60000, Description: "Build firmware 1.2.4", Keys: []keyserver.KeyRequest{kr("key2", 1)}},
		"other validity":    {ValidMS: 120000, Description: "Build firmware 1.2.3", Keys: []keyserver.KeyRequest{kr("key2", 1)}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			first, _, err := f.createOnce(t, "orderer", "run-1", request(kr("key2", 1)))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.createOnce(t, "orderer", "run-1", req)
			wantCode(t, err, keyserver.ECONFLICT)
			if msg := keyserver.ErrorMessage(err); !strings.Contains(msg, "different request") || !strings.Contains(msg, first.ID) {
				t.Fatalf("message %q does not say the key was used for another request", msg)
			}
			if n := f.store.OpCount(); n != 1 {
				t.Fatalf("%d operations stored after a refusal, want 1", n)
			}
		})
	}
}

func TestCreateOperationOnceChecksBeforeClaiming(t *testing.T) {
	f := newFixture(t)
	// A refused request claims nothing: the key stays free for a good one.
	_, _, err := f.createOnce(t, "orderer1", "run-1", request(kr("key2", 1)))
	wantCode(t, err, keyserver.ENOTFOUND) // a key one may not order looks unknown
	_, _, err = f.createOnce(t, "orderer1", "run-1", request(kr("key1", 0)))
	wantCode(t, err, keyserver.EINVALID)
	if _, created, err := f.createOnce(t, "orderer1", "run-1", request(kr("key1", 1))); err != nil || !created {
		t.Fatalf("create after refusals = %v, created %v", err, created)
	}
	for _, key := range []string{"", strings.Repeat("k", 256), "has space", "tab\t", "ünï"} {
		_, _, err := f.createOnce(t, "orderer1", key, request(kr("key1", 1)))
		wantCode(t, err, keyserver.EINVALID)
	}
}

// TestCreateOperationOnceCompletesAnUnfinishedClaim: when the first request
// claimed the key and then failed to store its operation, a retry stores it.
func TestCreateOperationOnceCompletesAnUnfinishedClaim(t *testing.T) {
	f := newFixture(t)
	f.store.Fail("CreateOperation", keyserver.Errorf(keyserver.EUNAVAILABLE, "down"))
	_, _, err := f.createOnce(t, "orderer", "run-1", request(kr("key2", 1)))
	wantCode(t, err, keyserver.EUNAVAILABLE)
	f.store.Fail("CreateOperation", nil)
	op, created, err := f.createOnce(t, "orderer", "run-1", request(kr("key2", 1)))
	if err != nil || !created {
		t.Fatalf("retry = %v, created %v", err, created)
	}
	again, created, err := f.createOnce(t, "orderer", "run-1", request(kr("key2", 1)))
	if err != nil || created || again.ID != op.ID {
		t.Fatalf("third create = %v, created %v, id %s; want %s", err, created, again.ID, op.ID)
	}
	if n := f.store.OpCount(); n != 1 {
		t.Fatalf("%d operations stored, want 1", n)
	}
}
