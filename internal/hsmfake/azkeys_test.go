package hsmfake

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// staticCredential hands out a fixed token and records what it was asked for.
type staticCredential struct {
	mu   sync.Mutex
	seen []policy.TokenRequestOptions
}

func (c *staticCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, opts)
	return azcore.AccessToken{Token: "static-test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func mustAzkeysClient(tb testing.TB, f *fixture, cred azcore.TokenCredential) *azkeys.Client {
	tb.Helper()
	c, err := azkeys.NewClient(f.ts.URL, cred, &azkeys.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: f.client},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		tb.Fatalf("azkeys.NewClient: %v", err)
	}
	return c
}

func jwkOf(k *azkeys.JSONWebKey) jsonWebKey {
	j := jsonWebKey{Kty: string(*k.Kty), N: b64.EncodeToString(k.N), E: b64.EncodeToString(k.E),
		X: b64.EncodeToString(k.X), Y: b64.EncodeToString(k.Y)}
	if k.Crv != nil {
		j.Crv = string(*k.Crv)
	}
	return j
}

func TestAzkeysClient(t *testing.T) {
	cases := []struct{ flavour, scope string }{
		{FlavourVault, "https://vault.azure.net/.default"},
		{FlavourManagedHSM, "https://managedhsm.azure.net/.default"},
	}
	for _, c := range cases {
		t.Run(c.flavour, func(t *testing.T) {
			f := mustServer(t, t.TempDir(), c.flavour)
			cred := &staticCredential{}
			client := mustAzkeysClient(t, f, cred)
			ctx := context.Background()

			ec, err := client.CreateKey(ctx, "azk-ec", azkeys.CreateKeyParameters{
				Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP256),
				KeyOps: []*azkeys.KeyOperation{to.Ptr(azkeys.KeyOperationSign), to.Ptr(azkeys.KeyOperationVerify)},
			}, nil)
			if err != nil {
				t.Fatalf("CreateKey EC: %v", err)
			}
			rsaKey, err := client.CreateKey(ctx, "azk-rsa", azkeys.CreateKeyParameters{
				Kty: to.Ptr(azkeys.KeyTypeRSAHSM), KeySize: to.Ptr[int32](2048),
			}, nil)
			if err != nil {
				t.Fatalf("CreateKey RSA: %v", err)
			}
			if *ec.Key.Kty != azkeys.KeyTypeECHSM || *ec.Attributes.Exportable || !*ec.Attributes.Enabled {
				t.Fatalf("EC key bundle: kty %s attributes %+v", *ec.Key.Kty, ec.Attributes)
			}
			if len(cred.seen) == 0 || !slices.Equal(cred.seen[0].Scopes, []string{c.scope}) || cred.seen[0].TenantID != TenantID {
				t.Fatalf("credential asked for %+v, want scope %s tenant %s", cred.seen, c.scope, TenantID)
			}

			got, err := client.GetKey(ctx, "azk-rsa", "", nil)
			if err != nil {
				t.Fatalf("GetKey: %v", err)
			}
			if *got.Key.KID != *rsaKey.Key.KID || got.Key.KID.Name() != "azk-rsa" || got.Key.KID.Version() == "" {
				t.Fatalf("GetKey kid %s, want %s", *got.Key.KID, *rsaKey.Key.KID)
			}

			var names []string
			pager := client.NewListKeyPropertiesPager(nil)
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Fatalf("listing keys: %v", err)
				}
				for _, p := range page.Value {
					names = append(names, p.KID.Name())
				}
			}
			if !slices.Equal(names, []string{"azk-ec", "azk-rsa"}) {
				t.Fatalf("listed %v", names)
			}

			digest := sha256.Sum256([]byte("signed through azkeys"))
			signs := []struct {
				key     *azkeys.KeyBundle
				version string
				alg     azkeys.SignatureAlgorithm
			}{
				{&ec.KeyBundle, ec.Key.KID.Version(), azkeys.SignatureAlgorithmES256},
				{&ec.KeyBundle, "", azkeys.SignatureAlgorithmES256},
				{&rsaKey.KeyBundle, rsaKey.Key.KID.Version(), azkeys.SignatureAlgorithmPS256},
				{&rsaKey.KeyBundle, "", azkeys.SignatureAlgorithmRS256},
			}
			for _, s := range signs {
				name := s.key.Key.KID.Name()
				res, err := client.Sign(ctx, name, s.version, azkeys.SignParameters{Algorithm: to.Ptr(s.alg), Value: digest[:]}, nil)
				if err != nil {
					t.Fatalf("Sign %s %s: %v", name, s.alg, err)
				}
				if !verifySig(mustPublicKey(t, jwkOf(s.key.Key)), string(s.alg), crypto.SHA256, digest[:], res.Result) {
					t.Fatalf("Sign %s %s: signature does not verify", name, s.alg)
				}
				v, err := client.Verify(ctx, name, s.version, azkeys.VerifyParameters{Algorithm: to.Ptr(s.alg), Digest: digest[:], Signature: res.Result}, nil)
				if err != nil || !*v.Value {
					t.Fatalf("Verify %s %s = %v, %v", name, s.alg, v.Value, err)
				}
			}

			_, err = client.GetKey(ctx, "missing", "", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "KeyNotFound" {
				t.Fatalf("GetKey of a missing key: %v, want a 404 KeyNotFound ResponseError", err)
			}
		})
	}
}

// TestAzkeysRotateKey: rotating makes a new current version of the same type;
// the old version stays readable and signs, and each signature's kid names
// the version that made it.
func TestAzkeysRotateKey(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	client := mustAzkeysClient(t, f, &staticCredential{})
	ctx := context.Background()
	old, err := client.CreateKey(ctx, "rot", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeECHSM), Curve: to.Ptr(azkeys.CurveNameP384)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := client.RotateKey(ctx, "rot", nil)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if rotated.Key.KID.Version() == old.Key.KID.Version() || *rotated.Key.Kty != azkeys.KeyTypeECHSM || *rotated.Key.Crv != azkeys.CurveNameP384 {
		t.Fatalf("rotated to %s (%s %s), from %s", *rotated.Key.KID, *rotated.Key.Kty, *rotated.Key.Crv, *old.Key.KID)
	}
	latest, err := client.GetKey(ctx, "rot", "", nil)
	if err != nil || *latest.Key.KID != *rotated.Key.KID {
		t.Fatalf("the current version is %v (%v), want %s", latest.Key.KID, err, *rotated.Key.KID)
	}
	digest := sha512.Sum384([]byte("after rotation"))
	for _, c := range []struct {
		version string
		want    *azkeys.KeyBundle
	}{
		{"", &rotated.KeyBundle},
		{old.Key.KID.Version(), &old.KeyBundle},
	} {
		res, err := client.Sign(ctx, "rot", c.version, azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES384), Value: digest[:]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *res.KID != *c.want.Key.KID || !verifySig(mustPublicKey(t, jwkOf(c.want.Key)), "ES384", crypto.SHA384, digest[:], res.Result) {
			t.Fatalf("signing with version %q: kid %s, want %s and a signature of that version", c.version, *res.KID, *c.want.Key.KID)
		}
	}
	if _, err := client.RotateKey(ctx, "missing", nil); err == nil {
		t.Fatal("rotating a missing key succeeded")
	}
}
