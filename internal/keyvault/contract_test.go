// The algorithm contract runs against the SoftHSM-backed fake always, and
// also against a real Key Vault or Managed HSM when given its URL:
//
//	go test ./internal/keyvault/ -run Contract -keyvault.url=https://<vault>.vault.azure.net
//	go test ./internal/keyvault/ -run Contract -keyvault.url=https://<hsm>.managedhsm.azure.net
//
// The real run signs in with DefaultAzureCredential (NewCredential("default")),
// creates RSA-HSM and EC-HSM keys named kscontract-<random>-<alg> (a Premium
// vault or a Managed HSM; the identity needs create, sign and delete on keys)
// and deletes them afterwards. Deleted keys stay soft-deleted until purged.

package keyvault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"keyserver/internal/hsmfake"
)

var realVaultURL = flag.String("keyvault.url", "",
	"also run the contract tests against this real vault, e.g. https://<vault>.vault.azure.net or https://<hsm>.managedhsm.azure.net")

// contractTarget is one place the contract runs: a Backend, and a way to
// create a key there and get its versionless key URL.
type contractTarget struct {
	backend *Backend
	mustKey func(tb testing.TB, name, kty string, size int, crv string) string
}

func TestAlgorithmContract(t *testing.T) {
	t.Run("hsmfake", func(t *testing.T) {
		f := mustHSMFake(t, hsmfake.FlavourVault)
		runAlgorithmContract(t, contractTarget{backend: f.b, mustKey: f.mustKey})
		checkHSMFakeOnly(t, f)
	})
	if *realVaultURL != "" {
		t.Run("keyvault", func(t *testing.T) {
			runAlgorithmContract(t, mustRealVault(t, *realVaultURL))
		})
	}
}

// runAlgorithmContract signs with every RSA size (PKCS#1 v1.5 and PSS) and
// every EC curve, each with SHA-256/384/512, and verifies with Go's crypto.
func runAlgorithmContract(t *testing.T, target contractTarget) {
	keys := []struct {
		name, kty string
		size      int
		crv       string
	}{
		{"rsa2048", "RSA-HSM", 2048, ""},
		{"rsa3072", "RSA-HSM", 3072, ""},
		{"rsa4096", "RSA", 4096, ""},
		{"ecp256", "EC-HSM", 0, "P-256"},
		{"ecp384", "EC-HSM", 0, "P-384"},
		{"ecp521", "EC", 0, "P-521"},
	}
	ctx := context.Background()
	for _, k := range keys {
		s := mustOpen(t, target.backend, target.mustKey(t, k.name, k.kty, k.size, k.crv))
		switch pub := s.Public().(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() != k.size {
				t.Fatalf("%s: got a %d-bit RSA key", k.name, pub.N.BitLen())
			}
		case *ecdsa.PublicKey:
			if pub.Curve.Params().Name != k.crv {
				t.Fatalf("%s: got an EC key on %s", k.name, pub.Curve.Params().Name)
			}
		default:
			t.Fatalf("%s: unexpected public key %T", k.name, pub)
		}
		for h, digest := range testDigests() {
			opts := []crypto.SignerOpts{h}
			if _, isRSA := s.Public().(*rsa.PublicKey); isRSA {
				opts = append(opts, &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash})
			}
			for _, o := range opts {
				sig, err := s.SignContext(ctx, digest, o)
				if err != nil {
					t.Fatalf("%s %v (%T): %v", k.name, h, o, err)
				}
				verifySignature(t, s.Public(), digest, sig, o)
			}
		}
	}
}

// mustRealVault is the contract target for a real vault: keys are created
// through azkeys as HSM keys and deleted when the test ends.
func mustRealVault(tb testing.TB, vaultURL string) contractTarget {
	tb.Helper()
	vaultURL = strings.TrimSuffix(vaultURL, "/")
	if ref, err := parseKeyURL(vaultURL + "/keys/probe"); err != nil || ref.loopback {
		tb.Fatalf("-keyvault.url=%s is not https://<vault>.vault.azure.net or https://<hsm>.managedhsm.azure.net", vaultURL)
	}
	cred, err := NewCredential("default")
	if err != nil {
		tb.Fatal(err)
	}
	b, err := New(Config{Credential: cred})
	if err != nil {
		tb.Fatal(err)
	}
	client, err := azkeys.NewClient(vaultURL, cred, nil)
	if err != nil {
		tb.Fatalf("creating the azkeys client for %s: %v", vaultURL, err)
	}
	prefix := "kscontract-" + mustRandomHex(tb, 6) + "-"
	mustKey := func(tb testing.TB, name, kty string, size int, crv string) string {
		tb.Helper()
		name = prefix + name
		params := azkeys.CreateKeyParameters{
			Kty:    ptr(hsmKeyType(kty)),
			KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign), ptr(azkeys.KeyOperationVerify)},
		}
		if size != 0 {
			params.KeySize = ptr(int32(size))
		}
		if crv != "" {
			params.Curve = ptr(azkeys.CurveName(crv))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := client.CreateKey(ctx, name, params, nil); err != nil {
			tb.Fatalf("creating %s in %s: %v", name, vaultURL, err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := client.DeleteKey(ctx, name, nil); err != nil {
				tb.Errorf("deleting %s from %s: %v", name, vaultURL, err)
			}
		})
		return vaultURL + "/keys/" + name
	}
	return contractTarget{backend: b, mustKey: mustKey}
}

// hsmKeyType is the HSM-protected form of a JWK key type (RSA -> RSA-HSM,
// EC -> EC-HSM); Managed HSM offers no other kind.
func hsmKeyType(kty string) azkeys.KeyType {
	if strings.HasSuffix(kty, "-HSM") {
		return azkeys.KeyType(kty)
	}
	return azkeys.KeyType(kty + "-HSM")
}

func mustRandomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
