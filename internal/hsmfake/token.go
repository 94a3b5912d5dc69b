package hsmfake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// Token facts. The PINs are fixed and public: the fake is for tests and local
// use only and its token must never hold a key that matters.
const (
	TokenLabel = "keyserver-fake"
	UserPIN    = "hsmfake-user-pin-dev-only"
	SOPIN      = "hsmfake-so-pin-dev-only"

	// DefaultModulePath is SoftHSM2's PKCS#11 module on Debian.
	DefaultModulePath = "/usr/lib/softhsm/libsofthsm2.so"

	sessionPoolSize = 4
)

// SoftHSM reads one configuration per process (SOFTHSM2_CONF at
// C_Initialize), so only one token may be open at a time. Loaded modules are
// kept for the life of the process: unloading SoftHSM and loading it again
// is not reliable.
var (
	processMu  sync.Mutex
	processDir string
	modules    = map[string]*pkcs11.Ctx{}
)

// token is an open, logged-in SoftHSM token with a pool of sessions.
type token struct {
	p      *pkcs11.Ctx
	slot   uint
	dir    string
	pool   chan pkcs11.SessionHandle
	all    []pkcs11.SessionHandle
	closed chan struct{}
	close  sync.Once
}

// openToken writes the SoftHSM configuration into stateDir, loads the module,
// initialises the token on first use and logs in.
func openToken(stateDir, modulePath string) (*token, error) {
	processMu.Lock()
	defer processMu.Unlock()
	if processDir != "" {
		return nil, fmt.Errorf("hsmfake: state dir %s is already open in this process; SoftHSM allows one configuration per process, close that Server first", processDir)
	}
	conf, err := writeSoftHSMConf(stateDir)
	if err != nil {
		return nil, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return nil, fmt.Errorf("setting SOFTHSM2_CONF: %w", err)
	}
	p := modules[modulePath]
	if p == nil {
		if p = pkcs11.New(modulePath); p == nil {
			return nil, fmt.Errorf("loading PKCS#11 module %s: cannot load it", modulePath)
		}
		modules[modulePath] = p
	}
	if err := p.Initialize(); err != nil {
		return nil, fmt.Errorf("initialising PKCS#11 module %s: %w", modulePath, err)
	}
	t := &token{p: p, dir: stateDir, closed: make(chan struct{})}
	if err := t.setUp(); err != nil {
		t.shutDown()
		return nil, err
	}
	processDir = stateDir
	return t, nil
}

func writeSoftHSMConf(stateDir string) (string, error) {
	tokens := filepath.Join(stateDir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", fmt.Errorf("creating token dir %s: %w", tokens, err)
	}
	conf := filepath.Join(stateDir, "softhsm2.conf")
	text := "# Written by hsmfake (tests and local use only).\n" +
		"directories.tokendir = " + tokens + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", conf, err)
	}
	return conf, nil
}

func (t *token) setUp() error {
	slot, found, err := t.findSlot()
	if err != nil {
		return err
	}
	if !found {
		if slot, err = t.initToken(); err != nil {
			return err
		}
	}
	t.slot = slot
	t.pool = make(chan pkcs11.SessionHandle, sessionPoolSize)
	for i := 0; i < sessionPoolSize; i++ {
		sh, err := t.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return fmt.Errorf("opening PKCS#11 session: %w", err)
		}
		t.all = append(t.all, sh)
		t.pool <- sh
	}
	// Login state belongs to the application, so one login covers every session.
	if err := t.p.Login(t.all[0], pkcs11.CKU_USER, UserPIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("logging in to token %q: %w", TokenLabel, err)
	}
	return nil
}

// findSlot returns the slot holding the initialised fake token, if any.
func (t *token) findSlot() (uint, bool, error) {
	slots, err := t.p.GetSlotList(true)
	if err != nil {
		return 0, false, fmt.Errorf("listing PKCS#11 slots: %w", err)
	}
	for _, s := range slots {
		info, err := t.p.GetTokenInfo(s)
		if err != nil {
			return 0, false, fmt.Errorf("reading token info of slot %d: %w", s, err)
		}
		if info.Label == TokenLabel && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// initToken initialises SoftHSM's free token and sets the user PIN.
func (t *token) initToken() (uint, error) {
	slots, err := t.p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("listing PKCS#11 slots: %w", err)
	}
	free, ok := uint(0), false
	for _, s := range slots {
		info, err := t.p.GetTokenInfo(s)
		if err == nil && info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free, ok = s, true
			break
		}
	}
	if !ok {
		return 0, errors.New("initialising token: SoftHSM offers no uninitialised token")
	}
	if err := t.p.InitToken(free, SOPIN, TokenLabel); err != nil {
		return 0, fmt.Errorf("initialising token %q: %w", TokenLabel, err)
	}
	// SoftHSM gives the new token a new slot id.
	slot, found, err := t.findSlot()
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("initialising token %q: token not found afterwards", TokenLabel)
	}
	sh, err := t.p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("opening session to set the user PIN: %w", err)
	}
	defer t.p.CloseSession(sh)
	if err := t.p.Login(sh, pkcs11.CKU_SO, SOPIN); err != nil {
		return 0, fmt.Errorf("logging in as SO: %w", err)
	}
	defer t.p.Logout(sh)
	if err := t.p.InitPIN(sh, UserPIN); err != nil {
		return 0, fmt.Errorf("setting the user PIN: %w", err)
	}
	return slot, nil
}

// withSession runs fn with a session of its own from the pool.
func (t *token) withSession(ctx context.Context, fn func(sessionHandle) error) error {
	var sh pkcs11.SessionHandle
	select {
	case sh = <-t.pool:
	case <-t.closed:
		return errors.New("hsmfake: token is closed")
	case <-ctx.Done():
		return fmt.Errorf("waiting for a PKCS#11 session: %w", ctx.Err())
	}
	defer func() { t.pool <- sh }()
	return fn(sh)
}

// shutDown waits for every session to come back, then logs out, closes them
// and finalises the module so that another state dir may be opened.
func (t *token) shutDown() error {
	var err error
	t.close.Do(func() {
		close(t.closed)
		for range t.all {
			<-t.pool
		}
		if len(t.all) > 0 {
			_ = t.p.Logout(t.all[0])
		}
		for _, sh := range t.all {
			_ = t.p.CloseSession(sh)
		}
		if e := t.p.Finalize(); e != nil {
			err = fmt.Errorf("finalising PKCS#11 module: %w", e)
		}
		processMu.Lock()
		if processDir == t.dir {
			processDir = ""
		}
		processMu.Unlock()
	})
	return err
}

type sessionHandle = pkcs11.SessionHandle
