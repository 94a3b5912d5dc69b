package devauth

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// authRequest is an authorization request (RFC 6749 4.1.1 with RFC 7636 PKCE).
type authRequest struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	ResponseMode        string
	Prompt              string
}

func readAuthRequest(v url.Values) authRequest {
	return authRequest{
		ResponseType:        v.Get("response_type"),
		ClientID:            v.Get("client_id"),
		RedirectURI:         v.Get("redirect_uri"),
		Scope:               v.Get("scope"),
		State:               v.Get("state"),
		Nonce:               v.Get("nonce"),
		CodeChallenge:       v.Get("code_challenge"),
		CodeChallengeMethod: v.Get("code_challenge_method"),
		ResponseMode:        v.Get("response_mode"),
		Prompt:              v.Get("prompt"),
	}
}

// maxParamLength bounds state and nonce, which the page carries along.
const maxParamLength = 1024

// authError is a refused authorization request. With redirect set the error
// goes back to the client at its redirect URI; otherwise, when the client or
// its redirect URI is in doubt, the person sees it on a page.
type authError struct {
	code, description string
	redirect          bool
}

// check validates the request; the client and redirect URI first, so that no
// error is ever sent to a redirect URI that is not registered.
func (s *Server) check(req authRequest) *authError {
	if req.ClientID != s.cfg.UIClientID || len(s.cfg.RedirectURIs) == 0 {
		return &authError{"unauthorized_client", fmt.Sprintf("Unknown client_id %q; people sign in through %s.", clip(req.ClientID), s.cfg.UIClientID), false}
	}
	if !slices.Contains(s.cfg.RedirectURIs, req.RedirectURI) {
		return &authError{"invalid_request", fmt.Sprintf("redirect_uri %q is not registered for %s.", clip(req.RedirectURI), s.cfg.UIClientID), false}
	}
	fail := func(code, description string) *authError { return &authError{code, description, true} }
	switch {
	case req.ResponseType != "code":
		return fail("unsupported_response_type", "response_type must be code.")
	case req.ResponseMode != "" && req.ResponseMode != "query":
		return fail("invalid_request", "response_mode must be query.")
	case req.CodeChallengeMethod != "S256":
		return fail("invalid_request", "PKCE is required: code_challenge_method must be S256.")
	case !challengePattern.MatchString(req.CodeChallenge):
		return fail("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier.")
	case !slices.Contains(strings.Fields(req.Scope), "openid"):
		return fail("invalid_scope", "scope must include openid.")
	case len(req.State) > maxParamLength || len(req.Nonce) > maxParamLength:
		return fail("invalid_request", "state and nonce must be at most 1024 characters long.")
	case req.Prompt == "none":
		// The dev auth server keeps no sign-in session: every sign-in asks.
		return fail("login_required", "Sign in with your username and password.")
	}
	return nil
}

// handleAuthorize shows the sign-in page.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req := readAuthRequest(r.URL.Query())
	if e := s.check(req); e != nil {
		s.refuse(w, r, req, e)
		return
	}
	s.renderSignIn(w, http.StatusOK, req, "", "")
}

// handleSignIn checks the person's name and password and sends the browser
// back to the client with a code.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "The sign-in form could not be read.")
		return
	}
	req := readAuthRequest(r.PostForm)
	if e := s.check(req); e != nil {
		s.refuse(w, r, req, e)
		return
	}
	name := r.PostForm.Get("username")
	p, ok := s.people.signIn(name, r.PostForm.Get("password"))
	if !ok {
		s.log.Warn("sign-in failed", "username", clip(name))
		s.renderSignIn(w, http.StatusUnauthorized, req, name, "The username or password is wrong.")
		return
	}
	code, ok := s.codes.issue(&grant{
		person: p, clientID: req.ClientID, redirectURI: req.RedirectURI, codeChallenge: req.CodeChallenge,
		nonce: req.Nonce, scope: req.Scope, expires: s.cfg.Now().Add(codeLifetime),
	}, s.cfg.Now())
	if !ok {
		s.refuse(w, r, req, &authError{"temporarily_unavailable", "Too many sign-ins are waiting for their code exchange.", true})
		return
	}
	s.log.Info("person signed in", "person", p.Name, "client", req.ClientID)
	redirectTo(w, r, req.RedirectURI, url.Values{"code": {code}}, req.State)
}

// refuse shows e on a page, or sends it to the client's redirect URI.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, req authRequest, e *authError) {
	s.log.Warn("authorization refused", "error", e.code, "client", clip(req.ClientID))
	if !e.redirect {
		s.renderError(w, http.StatusBadRequest, e.description)
		return
	}
	redirectTo(w, r, req.RedirectURI, url.Values{"error": {e.code}, "error_description": {e.description}}, req.State)
}

// redirectTo sends the browser to target (a registered redirect URI) with
// params and state added to its query.
func redirectTo(w http.ResponseWriter, r *http.Request, target string, params url.Values, state string) {
	u, err := url.Parse(target)
	if err != nil {
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// handleLogout ends the sign-in (the server keeps no session, so there is
// nothing else to end) and sends the browser to post_logout_redirect_uri when
// it is a registered redirect URI of the client.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("post_logout_redirect_uri")
	if target != "" && slices.Contains(s.cfg.RedirectURIs, target) {
		state := q.Get("state")
		if len(state) > maxParamLength {
			state = ""
		}
		redirectTo(w, r, target, nil, state)
		return
	}
	s.renderPage(w, http.StatusOK, page{Title: "Signed out", Message: "You are signed out."})
}
