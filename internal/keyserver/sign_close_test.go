package keyserver_test

import (
	"context"
	"crypto"
	"testing"

	"keyserver/internal/keyserver"
)

// TestSignClosedDuringTheHSMCallIsRefused rejects or cancels the operation
// while the HSM signs: the signature is not handed out, the use is not
// counted, and the refusal is audited after the closing.
func TestSignClosedDuringTheHSMCallIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		close func(f *fixture, tb testing.TB, id string)
	}{
		{"rejected", (*fixture).mustReject},
		{"cancelled", (*fixture).mustCancel},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			c := f.mustCaller(t, "orderer")
			op := f.mustCreate(t, "orderer", kr("ec256", 2))
			o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, "", keyserver.InputHex)
			f.hsm.During(func() { tt.close(f, t, op.ID) })
			res, err := f.svc.Sign(ctx, c, o)
			wantCode(t, err, keyserver.ECLOSED)
			if res != nil {
				t.Fatalf("a signature made while the operation closed was returned: %+v", res)
			}
			if n := f.store.HeldUses(op.ID, "ec256"); n != 0 {
				t.Fatalf("the withheld signature kept %d uses", n)
			}
			ev := f.lastEvent(t, op.ID)
			if ev.Action != keyserver.ActionSign || ev.Result != "failed: "+keyserver.ECLOSED || ev.Digest == "" {
				t.Fatalf("last audit event = %+v, want the withheld signature", ev)
			}
		})
	}
}

// TestSignThenCloseKeepsTheSignature closes the operation after a
// signature completed: the use stays spent.
func TestSignThenCloseKeepsTheSignature(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	op := f.mustCreate(t, "orderer", kr("ec256", 2))
	o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, "", keyserver.InputHex)
	if _, err := f.svc.Sign(ctx, c, o); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	f.mustCancel(t, op.ID)
	if n := f.store.HeldUses(op.ID, "ec256"); n != 1 {
		t.Fatalf("uses after closing = %d, want the one spent", n)
	}
	_, err := f.svc.Sign(ctx, c, o)
	wantCode(t, err, keyserver.ECLOSED)
}
