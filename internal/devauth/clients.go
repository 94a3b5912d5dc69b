package devauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// Client is an OAuth client of the dev auth server and the roles the local
// stack registers for its subject.
type Client struct {
	Name   string   `json:"name"`
	Secret string   `json:"secret"`
	Roles  []string `json:"roles,omitempty"`
}

// DemoClients returns the demo clients of the tutorial, each with its own
// name as secret.
func DemoClients() []Client {
	clients := []Client{
		{Name: "adminclient", Roles: []string{"admin"}},
		{Name: "orderer-client", Roles: []string{"orderer:*"}},
	}
	for i := 1; i <= 4; i++ {
		key := "key" + strconv.Itoa(i)
		clients = append(clients, Client{Name: "orderer-client" + key, Roles: []string{"orderer:" + key}})
	}
	for _, a := range demoApprovers() {
		clients = append(clients, Client{Name: a.name, Roles: []string{a.role}})
	}
	for i := range clients {
		clients[i].Secret = clients[i].Name
	}
	return clients
}

type demoApprover struct{ name, role string }

// demoApprovers are the tutorial's approvers: approver-key1 to approver-key4
// and approver2-key3, each of their key. They are clients and people alike.
func demoApprovers() []demoApprover {
	var out []demoApprover
	for i := 1; i <= 4; i++ {
		key := "key" + strconv.Itoa(i)
		out = append(out, demoApprover{"approver-" + key, "approver:" + key})
	}
	return append(out, demoApprover{"approver2-key3", "approver:key3"})
}

// LoadClients returns the demo clients changed by the JSON array of clients
// in path: an entry with a demo client's name replaces its secret (and its
// roles when it lists any); other entries are added.
func LoadClients(path string) ([]Client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading clients file: %w", err)
	}
	var overrides []Client
	if err := json.Unmarshal(data, &overrides); err != nil {
		return nil, fmt.Errorf("parsing clients file %s: %w", path, err)
	}
	clients := DemoClients()
	index := make(map[string]int, len(clients))
	for i, c := range clients {
		index[c.Name] = i
	}
	for i, o := range overrides {
		if o.Name == "" || o.Secret == "" {
			return nil, fmt.Errorf("clients file %s: entry %d needs a name and a secret", path, i)
		}
		j, ok := index[o.Name]
		if !ok {
			index[o.Name] = len(clients)
			clients = append(clients, o)
			continue
		}
		clients[j].Secret = o.Secret
		if o.Roles != nil {
			clients[j].Roles = o.Roles
		}
	}
	return clients, nil
}

// secretSet checks names and secrets (of clients or people) in constant time.
type secretSet struct {
	byName map[string]*[sha256.Size]byte
	dummy  [sha256.Size]byte
}

func newClientSet(clients []Client) (*secretSet, error) {
	set := newSecretSet(len(clients))
	for _, c := range clients {
		if err := set.add("client", c.Name, c.Secret); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func newSecretSet(n int) *secretSet {
	return &secretSet{byName: make(map[string]*[sha256.Size]byte, n)}
}

func (cs *secretSet) add(what, name, secret string) error {
	if name == "" || secret == "" {
		return fmt.Errorf("%s %q needs a name and a secret", what, name)
	}
	if cs.byName[name] != nil {
		return fmt.Errorf("%s %q is listed twice", what, name)
	}
	h := sha256.Sum256([]byte(secret))
	cs.byName[name] = &h
	return nil
}

// authenticate reports whether secret is the secret of name.
func (cs *secretSet) authenticate(name, secret string) bool {
	want, known := cs.byName[name]
	if !known {
		want = &cs.dummy
	}
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return known && match
}
