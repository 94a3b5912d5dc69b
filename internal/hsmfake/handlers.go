package hsmfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// Response shapes of the Key Vault keys API (7.4 and later).
type keyAttributes struct {
	Enabled         bool   `json:"enabled"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
	Exportable      bool   `json:"exportable"`
}

type keyBundle struct {
	Key        jsonWebKey    `json:"key"`
	Attributes keyAttributes `json:"attributes"`
}

type keyItem struct {
	KID        string        `json:"kid"`
	Attributes keyAttributes `json:"attributes"`
}

type keyList struct {
	Value    []keyItem `json:"value"`
	NextLink *string   `json:"nextLink"`
}

type operationResult struct {
	KID   string `json:"kid"`
	Value string `json:"value"`
}

type verifyResult struct {
	Value bool `json:"value"`
}

func (k *keyVersion) attributes() keyAttributes {
	return keyAttributes{
		Enabled:         true,
		Created:         k.created.Unix(),
		Updated:         k.created.Unix(),
		RecoveryLevel:   "Recoverable+Purgeable",
		RecoverableDays: 90,
	}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) error {
	list := keyList{Value: []keyItem{}}
	for _, k := range s.keys.latest() {
		list.Value = append(list.Value, keyItem{KID: baseURL(r) + "/keys/" + k.name, Attributes: k.attributes()})
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) lookup(name, version string) (*keyVersion, error) {
	if !validKeyName(name) {
		return nil, badParameter("The key name %q is invalid: use 1 to 127 letters, digits or '-'.", name)
	}
	k := s.keys.lookup(name, version)
	if k == nil {
		return nil, keyNotFound(name, version)
	}
	return k, nil
}

// lookupForAlg finds the key version and checks that alg suits it and digest.
func (s *Server) lookupForAlg(name, version, alg string, digest []byte) (*keyVersion, sigAlg, error) {
	k, err := s.lookup(name, version)
	if err != nil {
		return nil, sigAlg{}, err
	}
	a, err := checkAlg(k, alg, digest)
	if err != nil {
		return nil, sigAlg{}, err
	}
	return k, a, nil
}

func writeKeyBundle(w http.ResponseWriter, r *http.Request, k *keyVersion) {
	writeJSON(w, http.StatusOK, keyBundle{Key: k.jwk(kidOf(baseURL(r), k)), Attributes: k.attributes()})
}

func (s *Server) getHandler(name, version string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		k, err := s.lookup(name, version)
		if err != nil {
			return err
		}
		writeKeyBundle(w, r, k)
		return nil
	}
}

// createRequest has every field of CreateKeyParameters so that the ones the
// fake does not implement are refused instead of ignored.
type createRequest struct {
	Kty            string                     `json:"kty"`
	KeySize        int                        `json:"key_size"`
	Crv            string                     `json:"crv"`
	KeyOps         []string                   `json:"key_ops"`
	Attributes     map[string]json.RawMessage `json:"attributes"`
	Tags           map[string]string          `json:"tags"`
	PublicExponent int                        `json:"public_exponent"`
	ReleasePolicy  json.RawMessage            `json:"release_policy"`
}

func (c *createRequest) check() error {
	for _, op := range c.KeyOps {
		if op != "sign" && op != "verify" {
			return unsupported(http.StatusBadRequest, "key_ops %q is not supported; the fake implements only sign and verify.", op)
		}
	}
	for name, v := range c.Attributes {
		ok := (name == "enabled" && string(v) == "true") || (name == "exportable" && string(v) == "false")
		if !ok {
			return unsupported(http.StatusBadRequest, "attributes.%s=%s is not supported on create.", name, v)
		}
	}
	if len(c.Tags) > 0 {
		return unsupported(http.StatusBadRequest, "tags are not supported.")
	}
	if c.PublicExponent != 0 && c.PublicExponent != 65537 {
		return unsupported(http.StatusBadRequest, "public_exponent %d is not supported; only 65537 is.", c.PublicExponent)
	}
	if len(c.ReleasePolicy) > 0 && string(c.ReleasePolicy) != "null" {
		return unsupported(http.StatusBadRequest, "release_policy is not supported.")
	}
	return nil
}

func (s *Server) createHandler(name string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req createRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := req.check(); err != nil {
			return err
		}
		spec := KeySpec{Name: name, Kty: req.Kty, Size: req.KeySize, Crv: req.Crv}
		if err := spec.normalise(); err != nil {
			return err
		}
		k, err := s.createKey(r.Context(), spec)
		if err != nil {
			return err
		}
		writeKeyBundle(w, r, k)
		return nil
	}
}

// rotateHandler makes a new version of the key. Key Vault's rotate takes no
// body; the fake refuses one rather than ignore it.
func (s *Server) rotateHandler(name string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		if err != nil {
			return badParameter("Reading the request body failed: %v", err)
		}
		if len(bytes.TrimSpace(body)) > 0 {
			return unsupported(http.StatusBadRequest, "rotate takes no request body in the fake.")
		}
		k, err := s.rotateKey(r.Context(), name)
		if err != nil {
			return err
		}
		writeKeyBundle(w, r, k)
		return nil
	}
}

type signRequest struct {
	Alg   string `json:"alg"`
	Value string `json:"value"`
}

func (s *Server) signHandler(name, version string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req signRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		digest, err := decodeB64URL(req.Value)
		if err != nil {
			return badParameter("value is not base64url: %v", err)
		}
		k, a, err := s.lookupForAlg(name, version, req.Alg, digest)
		if err != nil {
			return err
		}
		sig, err := s.sign(r.Context(), k, a, digest)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, operationResult{KID: kidOf(baseURL(r), k), Value: b64.EncodeToString(sig)})
		return nil
	}
}

type verifyRequest struct {
	Alg    string `json:"alg"`
	Digest string `json:"digest"`
	Value  string `json:"value"`
}

func (s *Server) verifyHandler(name, version string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req verifyRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		digest, err := decodeB64URL(req.Digest)
		if err != nil {
			return badParameter("digest is not base64url: %v", err)
		}
		sig, err := decodeB64URL(req.Value)
		if err != nil {
			return badParameter("value is not base64url: %v", err)
		}
		k, a, err := s.lookupForAlg(name, version, req.Alg, digest)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, verifyResult{Value: a.verify(k.pub, digest, sig)})
		return nil
	}
}

const maxBody = 1 << 20

// decodeBody reads one JSON object; fields the fake does not know are
// refused loudly rather than ignored.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return badParameter("Reading the request body failed: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return badParameter("The request body is empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return unsupported(http.StatusBadRequest, "request field not implemented (%v).", err)
		}
		return badParameter("The request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badParameter("The request body has data after the JSON object.")
	}
	return nil
}
