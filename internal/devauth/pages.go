package devauth

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
)

// page is what the page template shows: a message, or the sign-in form.
type page struct {
	Title    string
	Message  string
	Error    string
	Form     bool
	Action   string
	Username string
	Request  authRequest
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Keyserver dev auth server</title>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p><small>Keyserver dev auth server: for local use only.</small></p>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
{{if .Form}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="response_type" value="{{.Request.ResponseType}}">
<input type="hidden" name="client_id" value="{{.Request.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Request.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Request.Scope}}">
<input type="hidden" name="state" value="{{.Request.State}}">
<input type="hidden" name="nonce" value="{{.Request.Nonce}}">
<input type="hidden" name="code_challenge" value="{{.Request.CodeChallenge}}">
<input type="hidden" name="code_challenge_method" value="{{.Request.CodeChallengeMethod}}">
<input type="hidden" name="response_mode" value="{{.Request.ResponseMode}}">
<p><label for="username">Username</label><br>
<input id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus value="{{.Username}}"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
<p><small>The demo people sign in with their name as password.</small></p>
{{end}}
</main>
</body>
</html>
`))

// renderSignIn shows the sign-in form for req, with an error after a failed try.
func (s *Server) renderSignIn(w http.ResponseWriter, status int, req authRequest, username, errMsg string) {
	// Chrome applies form-action to the redirect that follows the post.
	formAction := "'self'"
	if u, err := url.Parse(req.RedirectURI); err == nil {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	s.writePage(w, status, formAction, page{
		Title: "Sign in", Error: errMsg, Form: true, Action: s.prefix + "/authorize",
		Username: username, Request: req,
	})
}

func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.renderPage(w, status, page{Title: "Sign-in refused", Error: msg})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, p page) {
	s.writePage(w, status, "'none'", p)
}

func (s *Server) writePage(w http.ResponseWriter, status int, formAction string, p page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		s.log.Error("rendering page", "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
