package keyvault

import (
	"context"
	"crypto/elliptic"
	"testing"

	"keyserver/internal/keyserver"
)

func TestHealthReadsAnOpenedKeyOfEveryVault(t *testing.T) {
	fv := newFakeVault(t)
	b := mustBackend(t, fv, &staticCredential{}, Config{MaxRetries: -1})
	ctx := context.Background()
	if err := b.Health(ctx); err != nil {
		t.Fatalf("Health before any key was opened: %v", err)
	}
	mustOpen(t, b, fv.addKey("p256", mustECKey(t, elliptic.P256())))
	_, getsBefore, _, _ := fv.counts()
	if err := b.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if _, gets, _, _ := fv.counts(); gets != getsBefore+1 {
		t.Fatalf("Health made %d key reads, want 1", gets-getsBefore)
	}
	fv.setAlways(fault{op: "get", status: 500})
	if err := b.Health(ctx); keyserver.ErrorCode(err) != keyserver.EUNAVAILABLE {
		t.Fatalf("Health with the vault failing: %v, want %s", err, keyserver.EUNAVAILABLE)
	}
}
