package devauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"sync"
	"time"
)

// codeLifetime bounds how long an authorization code may wait for its exchange.
const codeLifetime = time.Minute

// maxPendingCodes bounds the codes held at once, so that a loop of sign-ins
// cannot fill the memory.
const maxPendingCodes = 10000

// grant is what an authorization code stands for.
type grant struct {
	person        Person
	clientID      string
	redirectURI   string
	codeChallenge string // S256 of the verifier, base64url
	nonce         string
	scope         string
	expires       time.Time
}

// codeStore holds issued authorization codes until their single use.
type codeStore struct {
	mu    sync.Mutex
	codes map[string]*grant
}

// issue stores g under a fresh code and returns the code.
func (cs *codeStore) issue(g *grant, now time.Time) (string, bool) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false
	}
	code := base64.RawURLEncoding.EncodeToString(b[:])
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.codes == nil {
		cs.codes = map[string]*grant{}
	}
	for c, old := range cs.codes {
		if !now.Before(old.expires) {
			delete(cs.codes, c)
		}
	}
	if len(cs.codes) >= maxPendingCodes {
		return "", false
	}
	cs.codes[code] = g
	return code, true
}

// redeem removes code and returns its grant when it has not expired. A code
// is gone after its first redemption, whatever the outcome of the exchange.
func (cs *codeStore) redeem(code string, now time.Time) (*grant, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	g, ok := cs.codes[code]
	if !ok {
		return nil, false
	}
	delete(cs.codes, code)
	return g, now.Before(g.expires)
}

// pkceValue is RFC 7636's code_verifier and (for S256) code_challenge alphabet.
var (
	verifierPattern  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// verifierMatches reports whether verifier hashes (S256) to challenge.
func verifierMatches(verifier, challenge string) bool {
	if !verifierPattern.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
