package devauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Person is someone who signs in through the sign-in page, and the roles the
// local stack registers for them.
type Person struct {
	// Name is what the person types as username; it is also the display name.
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles,omitempty"`
}

// ID is the person's stable id: the "sub" and "oid" of their tokens, and
// the subject id the Keyserver registers them under.
func (p Person) ID() string { return PersonID(p.Name) }

// PersonID derives the stable id of the person called name: a UUID made from
// a hash of the name, so that it is the same on every machine and at every
// start, like an Entra object id.
func PersonID(name string) string {
	sum := sha256.Sum256([]byte("keyserver devauth person\x00" + name))
	sum[6] = sum[6]&0x0f | 0x80 // version 8: a custom UUID
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DemoPeople returns the people of the tutorial, each with their own name as
// password: adminuser (admin), approver-key1 to approver-key4 and
// approver2-key3 (approvers of their key).
func DemoPeople() []Person {
	people := []Person{{Name: "adminuser", Roles: []string{"admin"}}}
	for _, a := range demoApprovers() {
		people = append(people, Person{Name: a.name, Roles: []string{a.role}})
	}
	for i := range people {
		people[i].Password = people[i].Name
	}
	return people
}

// personSet holds the people who may sign in.
type personSet struct {
	secrets *secretSet
	byName  map[string]Person
}

func newPersonSet(people []Person) (*personSet, error) {
	ps := &personSet{secrets: newSecretSet(len(people)), byName: make(map[string]Person, len(people))}
	for _, p := range people {
		if err := ps.secrets.add("person", p.Name, p.Password); err != nil {
			return nil, err
		}
		if len(p.Name) > 64 {
			return nil, fmt.Errorf("person %q: the name is longer than 64 bytes", clip(p.Name))
		}
		ps.byName[p.Name] = p
	}
	return ps, nil
}

// signIn returns the person whose name and password these are.
func (ps *personSet) signIn(name, password string) (Person, bool) {
	if !ps.secrets.authenticate(name, password) {
		return Person{}, false
	}
	return ps.byName[name], true
}
