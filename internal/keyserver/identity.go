package keyserver

// Kind tells people from apps. The zero value is KindApp: a workload (a
// pipeline, a service principal, a managed identity), which is what every
// principal was before people could sign in.
type Kind uint8

const (
	// KindApp is a workload acting on its own: an app-only token.
	KindApp Kind = iota
	// KindPerson is a person signed in through a client app: a delegated token.
	KindPerson
)

func (k Kind) String() string {
	if k == KindPerson {
		return "person"
	}
	return "app"
}

// ParseKind reads "person" or "app"; empty means app.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "app":
		return KindApp, nil
	case "person":
		return KindPerson, nil
	}
	return KindApp, Errorf(EINVALID, "kind must be person or app, not %q.", clipText(s, 40))
}

// MarshalText writes "app" or "person".
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText writes; empty means app.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Identity is what a verified token says about its bearer.
type Identity struct {
	Principal
	// Name is the display name the token gives (a person's name), if any.
	Name string
	// Claims are the token's verified claims.
	Claims map[string]any
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
