package keyvault

import (
	"context"
	"crypto"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

func mustPin(tb testing.TB, b *Backend, hsmKey string) string {
	tb.Helper()
	pinned, err := b.Pin(context.Background(), hsmKey)
	if err != nil {
		tb.Fatalf("Pin(%s): %v", hsmKey, err)
	}
	return pinned
}

func mustAttributedSign(tb testing.TB, s keyserver.ContextSigner, digest []byte) ([]byte, crypto.PublicKey) {
	tb.Helper()
	sig, by, err := s.(keyserver.AttributedSigner).SignAttributed(context.Background(), digest, crypto.SHA256)
	if err != nil {
		tb.Fatalf("SignAttributed: %v", err)
	}
	return sig, by
}

// TestRotationAgainstHSMFake: a pinned key keeps signing with its version
// after the HSM key gets a new one, in a backend opened before the rotation
// and in one opened after; pinning again finds the new version; a versionless
// key signs with the current version and names it.
func TestRotationAgainstHSMFake(t *testing.T) {
	f := mustHSMFake(t, "")
	ctx := context.Background()
	floating := f.mustKey(t, "rot", "EC-HSM", 0, "P-256")
	pinned := mustPin(t, f.b, floating)
	if !strings.HasPrefix(pinned, floating+"/") || len(pinned) != len(floating)+33 {
		t.Fatalf("Pin(%s) = %s, want the URL of one version", floating, pinned)
	}
	before := mustOpen(t, f.b, pinned)
	floatBefore := mustOpen(t, f.b, floating)

	if _, err := f.fake.RotateKey(ctx, "rot"); err != nil {
		t.Fatal(err)
	}
	later, err := New(Config{Credential: f.cred, ExtraRootCAs: f.fake.CAPEM()})
	if err != nil {
		t.Fatal(err)
	}
	after := mustOpen(t, later, pinned)
	if !after.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(before.Public()) {
		t.Fatal("the pinned key opened after the rotation has another public key")
	}
	digest := testDigests()[crypto.SHA256]
	for _, s := range []keyserver.ContextSigner{before, after} {
		sig, by := mustAttributedSign(t, s, digest)
		verifySignature(t, before.Public(), digest, sig, crypto.SHA256)
		if !samePublic(by, before.Public()) {
			t.Fatal("a pinned signature is attributed to another version")
		}
	}

	repinned := mustPin(t, later, floating)
	if repinned == pinned {
		t.Fatalf("pinning after the rotation kept %s", pinned)
	}
	current := mustOpen(t, later, repinned)
	if samePublic(current.Public(), before.Public()) {
		t.Fatal("the new version has the old public key")
	}

	// A versionless key opened before the rotation signs with the current
	// version, and says so: its signature verifies under the new key only.
	sig, by := mustAttributedSign(t, floatBefore, digest)
	if !samePublic(by, current.Public()) {
		t.Fatal("the versionless signer's signature is not attributed to the current version")
	}
	verifySignature(t, current.Public(), digest, sig, crypto.SHA256)
	if keyserver.VerifySignature(floatBefore.Public(), digest, sig, crypto.SHA256) == nil {
		t.Fatal("the new version's signature verifies under the old key")
	}
	// The Verified decorator checks against the version that signed, and
	// SignContext refuses a signature by another version than the one opened.
	v, err := keyserver.Verified(f.b).Open(ctx, floating)
	if err != nil {
		t.Fatal(err)
	}
	if _, by := mustAttributedSign(t, v, digest); !samePublic(by, current.Public()) {
		t.Fatal("the Verified decorator lost the attribution")
	}
	_, err = v.SignContext(ctx, digest, crypto.SHA256)
	checkError(t, err, keyserver.EUNAVAILABLE, "The HSM signed with another version of the key than the one opened; no signature was issued.")
}

func samePublic(a, b crypto.PublicKey) bool {
	return a.(interface{ Equal(crypto.PublicKey) bool }).Equal(b)
}
