package hsmfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// KeySpec describes a key to create: Kty is RSA, RSA-HSM, EC or EC-HSM; Size
// applies to RSA (2048, 3072, 4096), Crv to EC (P-256, P-384, P-521).
type KeySpec struct {
	Name string
	Kty  string
	Size int
	Crv  string
}

func (s KeySpec) isRSA() bool { return s.Kty == "RSA" || s.Kty == "RSA-HSM" }

// normalise fills Key Vault's defaults (RSA 2048, EC P-256) and rejects what
// the fake does not support.
func (s *KeySpec) normalise() error {
	if !validKeyName(s.Name) {
		return badParameter("The key name %q is invalid: use 1 to 127 letters, digits or '-'.", s.Name)
	}
	switch s.Kty {
	case "RSA", "RSA-HSM":
		if s.Crv != "" {
			return badParameter("crv is not valid for kty %s.", s.Kty)
		}
		if s.Size == 0 {
			s.Size = 2048
		}
		if s.Size != 2048 && s.Size != 3072 && s.Size != 4096 {
			return badParameter("key_size %d is not supported; use 2048, 3072 or 4096.", s.Size)
		}
	case "EC", "EC-HSM":
		if s.Size != 0 {
			return badParameter("key_size is not valid for kty %s.", s.Kty)
		}
		if s.Crv == "" {
			s.Crv = "P-256"
		}
		if curveOIDs[s.Crv] == nil {
			return unsupported(400, "crv %q is not supported by hsmfake; use P-256, P-384 or P-521.", s.Crv)
		}
	default:
		return unsupported(400, "kty %q is not supported by hsmfake; use RSA, RSA-HSM, EC or EC-HSM.", s.Kty)
	}
	return nil
}

// ParseKeySpecs parses "key1=RSA:2048,key2=EC:P-256" (kty alone takes the
// default size or curve).
func ParseKeySpecs(text string) ([]KeySpec, error) {
	var specs []KeySpec
	for _, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, typ, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("key spec %q: want name=KTY[:size|:curve]", item)
		}
		kty, param, _ := strings.Cut(typ, ":")
		s := KeySpec{Name: name, Kty: kty}
		if s.isRSA() && param != "" {
			n, err := strconv.Atoi(param)
			if err != nil {
				return nil, fmt.Errorf("key spec %q: size %q is not a number", item, param)
			}
			s.Size = n
		} else {
			s.Crv = param
		}
		if err := s.normalise(); err != nil {
			return nil, fmt.Errorf("key spec %q: %w", item, err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

var keyNamePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

func validKeyName(name string) bool { return keyNamePattern.MatchString(name) }

// keyVersion is one version of a key held in the token.
type keyVersion struct {
	name    string
	version string
	hsm     bool // kty was requested with the -HSM suffix
	created time.Time
	priv    pkcs11.ObjectHandle
	pub     crypto.PublicKey
}

func (k *keyVersion) kty() string {
	t := "RSA"
	if _, ok := k.pub.(*ecdsa.PublicKey); ok {
		t = "EC"
	}
	if k.hsm {
		t += "-HSM"
	}
	return t
}

// spec is what creates another version like k.
func (k *keyVersion) spec() KeySpec {
	spec := KeySpec{Name: k.name, Kty: k.kty(), Crv: k.curve()}
	if r, ok := k.pub.(*rsa.PublicKey); ok {
		spec.Size = r.N.BitLen()
	}
	return spec
}

// curve is the key's curve name, or "" for RSA.
func (k *keyVersion) curve() string {
	if ec, ok := k.pub.(*ecdsa.PublicKey); ok {
		return ec.Curve.Params().Name
	}
	return ""
}

// A version is 16 bytes, shown as 32 hex digits: the creation time in Unix
// nanoseconds (so versions sort by age), a flags byte and 7 random bytes.
const flagHSM = 1

func newVersionID(created time.Time, hsm bool) ([]byte, error) {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id, uint64(created.UnixNano()))
	if hsm {
		id[8] = flagHSM
	}
	if _, err := rand.Read(id[9:]); err != nil {
		return nil, fmt.Errorf("making a key version: %w", err)
	}
	return id, nil
}

// parseVersion reads name and CKA_ID back into a keyVersion without keys.
func parseVersion(name string, id []byte) (*keyVersion, bool) {
	if len(id) != 16 {
		return nil, false
	}
	return &keyVersion{
		name:    name,
		version: hex.EncodeToString(id),
		hsm:     id[8]&flagHSM != 0,
		created: time.Unix(0, int64(binary.BigEndian.Uint64(id))),
	}, true
}

var versionPattern = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// keyIndex maps names to versions, oldest first.
type keyIndex struct {
	mu     sync.RWMutex
	byName map[string][]*keyVersion
}

func newKeyIndex(all []*keyVersion) *keyIndex {
	x := &keyIndex{byName: map[string][]*keyVersion{}}
	for _, k := range all {
		x.add(k)
	}
	return x
}

func (x *keyIndex) add(k *keyVersion) {
	x.mu.Lock()
	defer x.mu.Unlock()
	vs := append(x.byName[k.name], k)
	sort.Slice(vs, func(i, j int) bool { return vs[i].version < vs[j].version })
	x.byName[k.name] = vs
}

// lookup finds a version; an empty version means the latest.
func (x *keyIndex) lookup(name, version string) *keyVersion {
	x.mu.RLock()
	defer x.mu.RUnlock()
	vs := x.byName[name]
	if len(vs) == 0 {
		return nil
	}
	if version == "" {
		return vs[len(vs)-1]
	}
	version = strings.ToLower(version)
	for _, k := range vs {
		if k.version == version {
			return k
		}
	}
	return nil
}

// latest returns the newest version of every key, by name.
func (x *keyIndex) latest() []*keyVersion {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*keyVersion, 0, len(x.byName))
	for _, vs := range x.byName {
		out = append(out, vs[len(vs)-1])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
