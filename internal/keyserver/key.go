package keyserver

import ()

// Key is a registered signing key: a key id callers use, the reference to
// the HSM key that makes its signatures, and its approval policy.
type Key struct {
	KeyID             string
	HSMKey            string
	RequiredApprovals int
	KeyInfo           string
	Certificate       string
	Algorithm         string
	Enabled           bool
	// Channels receive the events of operations on the key; they hold
	// secrets.
	Channels []Channel
}

// validKeyID reports whether id matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
// (checked on every request, so without a regular expression).
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// ValidateKeyID checks that id is a usable key id: 1 to 64 letters, digits,
// dots, dashes or underscores, starting with a letter or digit.
func ValidateKeyID(id string) error {
	if !validKeyID(id) {
		return Errorf(EINVALID, "Key id %q is invalid: use 1 to 64 letters, digits, '.', '-' or '_'.", id).On("keyid")
	}
	return nil
}

// MaxRequiredApprovals bounds a key's approval policy.
const MaxRequiredApprovals = 10
