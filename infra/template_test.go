package infra_test

import (
	"fmt"
	"regexp"
	"strings"
)

// template is a parsed main.bicep.
type template struct {
	source string
	decls  []*decl
	vars   map[string]string // string-literal vars, unquoted
}

func parseTemplate(bicep string) (*template, error) {
	decls, err := parseBicep(code(bicep))
	if err != nil {
		return nil, err
	}
	t := &template{source: bicep, decls: decls, vars: map[string]string{}}
	for _, d := range decls {
		if e, ok := d.body.(expr); ok && d.kind == "var" && isStringLiteral(string(e)) {
			t.vars[d.name] = strings.Trim(string(e), "'")
		}
	}
	return t, nil
}

func isStringLiteral(s string) bool {
	return len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' && !strings.Contains(s[1:len(s)-1], "'")
}

func (t *template) find(kind, name string) *decl {
	for _, d := range t.decls {
		if d.kind == kind && d.name == name {
			return d
		}
	}
	return nil
}

func (t *template) resources(typ string) []*decl {
	var out []*decl
	for _, d := range t.decls {
		if d.kind == "resource" && strings.EqualFold(d.resourceType(), typ) {
			out = append(out, d)
		}
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// resolve turns a string literal (with interpolations of string vars) or the
// name of a string var into its value; ok is false for anything else.
func (t *template) resolve(e string) (string, bool) {
	if v, ok := t.vars[e]; ok {
		return t.resolve("'" + v + "'")
	}
	if !isStringLiteral(e) {
		return "", false
	}
	ok := true
	s := interpolation.ReplaceAllStringFunc(strings.Trim(e, "'"), func(m string) string {
		v, found := t.vars[m[2:len(m)-1]]
		ok = ok && found
		return v
	})
	return s, ok
}

// appSettings returns the function app's settings: name -> value expression.
func (t *template) appSettings() (map[string]string, error) {
	app := t.find("resource", "functionApp")
	if app == nil || app.object() == nil {
		return nil, fmt.Errorf("no resource functionApp")
	}
	list, ok := app.object().get("properties", "siteConfig", "appSettings").(*array)
	if !ok {
		return nil, fmt.Errorf("functionApp has no properties.siteConfig.appSettings array")
	}
	settings := map[string]string{}
	for _, item := range list.items {
		o, ok := item.(*object)
		if !ok {
			return nil, fmt.Errorf("an app setting is not an object")
		}
		name, ok := t.resolve(o.str("name"))
		if !ok {
			return nil, fmt.Errorf("app setting name %s is not a constant", o.str("name"))
		}
		if _, dup := settings[name]; dup {
			return nil, fmt.Errorf("app setting %s is set twice", name)
		}
		settings[name] = o.str("value")
	}
	return settings, nil
}
