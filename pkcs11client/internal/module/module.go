// Package module is the logic of the Keyserver PKCS#11 module: configuration,
// the Keyserver client, the token's objects and attributes, sessions, and the
// mapping of signing mechanisms to sign orders. It has no cgo so that it can
// be tested with go test; package main of pkcs11client exposes it to C.
package module

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"keyserver/internal/ksc"
)

// SlotID is the one slot the module has.
const SlotID = 1

// TokenLabel is the label of the one token.
const TokenLabel = "Keyserver"

// Options are the module's seams to the outside world.
type Options struct {
	Getenv     func(string) string // os.Getenv when nil
	Log        func(line string)   // one line to stderr; prefixed "libpkcs11ks: " by default
	HTTPClient *http.Client        // built from the configuration when nil
	Now        func() time.Time
}

// Module is one initialised instance (C_Initialize to C_Finalize).
type Module struct {
	opts Options

	loadOnce sync.Once
	cfg      *Config
	client   *Client
	keys     []*Key
	objects  []*Object
	loadErr  error

	mu          sync.Mutex
	sessions    map[uint]*Session
	nextSession uint
	loggedIn    bool
}

// New makes a module; it reads no variable and makes no call yet.
func New(opts Options) *Module {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Log == nil {
		opts.Log = func(line string) { _, _ = os.Stderr.WriteString("libpkcs11ks: " + line + "\n") }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Module{opts: opts, sessions: map[uint]*Session{}, nextSession: 1}
}

// Debugf logs detail when KSC_DEBUG is set. Never pass tokens or signatures.
func (m *Module) Debugf(format string, args ...any) {
	if isTrue(m.opts.Getenv("KSC_DEBUG")) {
		m.opts.Log("debug: " + fmt.Sprintf(format, args...))
	}
}

// load reads the configuration and the key list, once per module. Its
// failure is logged once and makes the token absent.
func (m *Module) load() error {
	m.loadOnce.Do(func() {
		m.loadErr = m.doLoad()
		if m.loadErr != nil {
			m.opts.Log(m.loadErr.Error())
		}
	})
	return m.loadErr
}

func (m *Module) doLoad() error {
	cfg, err := LoadConfig(m.opts.Getenv)
	if err != nil {
		return errorf(CKR_TOKEN_NOT_PRESENT, "%v", err)
	}
	m.cfg = cfg
	m.client = NewClient(cfg, ksc.NewTokenSource(cfg.Token, cfg.TokenFile, m.opts.Now), m.opts.HTTPClient)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	infos, err := m.client.Keys(ctx)
	if err != nil {
		return err
	}
	for _, ki := range infos {
		k, err := ParseKey(ki)
		if err != nil {
			m.opts.Log("skipping a key: " + err.Error())
			continue
		}
		m.keys = append(m.keys, k)
	}
	m.objects = BuildObjects(m.keys)
	m.Debugf("loaded %d keys from %s", len(m.keys), cfg.APIServer.Redacted())
	return nil
}

// TokenPresent loads the keys if needed and reports whether that worked.
func (m *Module) TokenPresent() bool { return m.load() == nil }

// SlotList returns the slot ids; with tokenPresent only if the token is.
func (m *Module) SlotList(tokenPresent bool) []uint {
	if tokenPresent && !m.TokenPresent() {
		return nil
	}
	return []uint{SlotID}
}

// CheckSlot validates a slot id.
func CheckSlot(slot uint) RV {
	if slot != SlotID {
		return CKR_SLOT_ID_INVALID
	}
	return CKR_OK
}

// TokenInfo is what C_GetTokenInfo reports beyond constants.
type TokenInfo struct {
	Label, Manufacturer, Model, Serial string
	Flags                              uint
	Sessions, RWSessions               uint
}

// TokenInfo describes the token, or CKR_TOKEN_NOT_PRESENT.
func (m *Module) TokenInfo(slot uint) (TokenInfo, RV) {
	if rv := CheckSlot(slot); rv != CKR_OK {
		return TokenInfo{}, rv
	}
	if !m.TokenPresent() {
		return TokenInfo{}, CKR_TOKEN_NOT_PRESENT
	}
	sum := sha256.Sum256([]byte(m.cfg.APIServer.String()))
	ti := TokenInfo{
		Label: TokenLabel, Manufacturer: "libpkcs11ks", Model: "Keyserver",
		Serial: hex.EncodeToString(sum[:8]),
		Flags:  CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		ti.Sessions++
		if s.Flags&CKF_RW_SESSION != 0 {
			ti.RWSessions++
		}
	}
	return ti, CKR_OK
}

// MechanismList lists the slot's mechanisms.
func (m *Module) MechanismList(slot uint) ([]uint, RV) {
	if rv := CheckSlot(slot); rv != CKR_OK {
		return nil, rv
	}
	if !m.TokenPresent() {
		return nil, CKR_TOKEN_NOT_PRESENT
	}
	return Mechanisms(m.keys), CKR_OK
}

// MechanismInfo describes one mechanism of the slot.
func (m *Module) MechanismInfo(slot, mech uint) (minBits, maxBits, flags uint, rv RV) {
	if rv := CheckSlot(slot); rv != CKR_OK {
		return 0, 0, 0, rv
	}
	if !m.TokenPresent() {
		return 0, 0, 0, CKR_TOKEN_NOT_PRESENT
	}
	minBits, maxBits, flags, ok := MechanismInfo(mech, m.keys)
	if !ok {
		return 0, 0, 0, CKR_MECHANISM_INVALID
	}
	return minBits, maxBits, flags, CKR_OK
}

// Fail logs err's line and returns its code. Local argument errors are not
// errors of this kind and are returned without a line.
func (m *Module) Fail(err error) RV {
	m.opts.Log(err.Error())
	return RVOf(err)
}
