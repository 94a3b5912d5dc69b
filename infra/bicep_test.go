package infra_test

import (
	"fmt"
	"regexp"
	"strings"
)

// This file parses the subset of Bicep main.bicep uses into declarations
// whose bodies are objects, arrays and raw expressions, so that the tests
// can check structure (which resource, which property, which scope) rather
// than text. It is no Bicep compiler: it only has to read what main.bicep
// writes, and it fails loudly on anything else.

// value is an *object, an *array or an expr.
type value any

// expr is an expression kept as its source text.
type expr string

type object struct {
	keys []string
	vals map[string]value
}

type array struct{ items []value }

// forArray is [for <header>: <body>].
type forArray struct {
	header string
	body   value
}

type decl struct {
	kind      string // param, var, resource, output
	name      string
	typ       string // resource type with API version, or param/output type
	condition string // if (...) of a resource
	loop      string // for header of a resource loop
	body      value
}

func (o *object) get(path ...string) value {
	var v value = o
	for _, p := range path {
		obj, ok := v.(*object)
		if !ok {
			return nil
		}
		v = obj.vals[p]
	}
	return v
}

func (o *object) str(path ...string) string {
	if e, ok := o.get(path...).(expr); ok {
		return string(e)
	}
	return ""
}

// body returns a resource's body object, looking inside a loop.
func (d *decl) object() *object {
	v := d.body
	if f, ok := v.(*forArray); ok {
		v = f.body
	}
	o, _ := v.(*object)
	return o
}

// resourceType is the type without the API version.
func (d *decl) resourceType() string { t, _, _ := strings.Cut(d.typ, "@"); return t }

type token struct {
	kind string // ident, string, punct, newline, eof
	text string
	pos  int
}

var tokenPattern = regexp.MustCompile(`^(?:([A-Za-z_][A-Za-z0-9_]*)|('(?:[^'\\]|\\.)*')|(\r?\n)|([{}\[\]():,?.!=<>&|+\-*/%@]+?)|([0-9]+))`)

func tokenize(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		if c := src[i]; c == ' ' || c == '\t' {
			i++
			continue
		}
		m := tokenPattern.FindStringSubmatchIndex(src[i:])
		if m == nil {
			return nil, fmt.Errorf("unexpected %q at offset %d", src[i:min(i+20, len(src))], i)
		}
		kinds := []string{"ident", "string", "newline", "punct", "number"}
		for g, k := range kinds {
			if m[2+2*g] >= 0 {
				toks = append(toks, token{kind: k, text: src[i+m[2+2*g] : i+m[3+2*g]], pos: i})
				break
			}
		}
		i += m[1]
	}
	return append(toks, token{kind: "eof", pos: len(src)}), nil
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) skipNewlines() {
	for p.peek().kind == "newline" {
		p.i++
	}
}

func (p *parser) expect(text string) error {
	if t := p.next(); t.text != text {
		return fmt.Errorf("expected %q at offset %d, found %q", text, t.pos, t.text)
	}
	return nil
}

// parseBicep returns the declarations of src, which code() has cleaned.
func parseBicep(src string) ([]*decl, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var decls []*decl
	for {
		p.skipNewlines()
		t := p.next()
		if t.kind == "eof" {
			return decls, nil
		}
		d := &decl{kind: t.text}
		switch t.text {
		case "targetScope":
			if err := p.expect("="); err != nil {
				return nil, err
			}
			p.raw()
			continue
		case "param", "output":
			d.name, d.typ = p.next().text, p.next().text
			if p.peek().text == "=" {
				p.next()
				d.body, err = p.value()
			}
		case "var":
			d.name = p.next().text
			if err = p.expect("="); err == nil {
				d.body, err = p.value()
			}
		case "resource":
			err = p.resource(d)
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", t.text, t.pos)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", d.kind, d.name, err)
		}
		decls = append(decls, d)
	}
}

func (p *parser) resource(d *decl) error {
	d.name = p.next().text
	d.typ = strings.Trim(p.next().text, "'")
	if p.peek().text == "existing" {
		p.next()
	}
	if err := p.expect("="); err != nil {
		return err
	}
	if p.peek().text == "if" {
		p.next()
		d.condition = p.balanced("(", ")")
	}
	if p.peek().text == "[" {
		p.next()
		p.skipNewlines()
		if p.next().text != "for" {
			return fmt.Errorf("a resource array must be a for loop")
		}
		d.loop = p.until(":")
		p.next()
		body, err := p.value()
		if err != nil {
			return err
		}
		p.skipNewlines()
		d.body = &forArray{header: d.loop, body: body}
		return p.expect("]")
	}
	var err error
	d.body, err = p.value()
	return err
}

// value parses an object, an array or an expression up to the end of its line.
func (p *parser) value() (value, error) {
	switch p.peek().text {
	case "{":
		return p.object()
	case "[":
		save := p.i
		p.next()
		p.skipNewlines()
		if p.peek().text == "for" {
			p.next()
			header := p.until(":")
			p.next()
			body, err := p.value()
			if err != nil {
				return nil, err
			}
			p.skipNewlines()
			return &forArray{header: header, body: body}, p.expect("]")
		}
		p.i = save
		return p.array()
	}
	return p.raw(), nil
}

func (p *parser) object() (*object, error) {
	p.next() // {
	o := &object{vals: map[string]value{}}
	for {
		p.skipNewlines()
		t := p.next()
		if t.text == "}" {
			return o, nil
		}
		if t.kind != "ident" && t.kind != "string" {
			return nil, fmt.Errorf("expected a property name at offset %d, found %q", t.pos, t.text)
		}
		key := strings.Trim(t.text, "'")
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := o.vals[key]; dup {
			return nil, fmt.Errorf("property %s given twice", key)
		}
		o.keys = append(o.keys, key)
		o.vals[key] = v
	}
}

func (p *parser) array() (*array, error) {
	p.next() // [
	a := &array{}
	for {
		p.skipNewlines()
		if p.peek().text == "]" {
			p.next()
			return a, nil
		}
		if p.peek().kind == "eof" {
			return nil, fmt.Errorf("unclosed array")
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a.items = append(a.items, v)
	}
}

// raw consumes an expression to the end of its line, brackets included.
func (p *parser) raw() expr {
	return expr(p.scan(func(t token) bool { return t.kind == "newline" || t.text == "}" || t.text == "]" }))
}

// until returns the text up to (not including) the token text at depth 0.
func (p *parser) until(text string) string {
	return p.scan(func(t token) bool { return t.text == text })
}

// scan consumes tokens until stop holds for one outside brackets, and
// returns their source text.
func (p *parser) scan(stop func(token) bool) string {
	start, depth := p.peek().pos, 0
	end := start
	for {
		t := p.peek()
		if t.kind == "eof" || (depth == 0 && stop(t)) {
			return strings.TrimSpace(p.src[start:end])
		}
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		p.next()
		end = t.pos + len(t.text)
	}
}

// balanced returns the text between open and its matching close.
func (p *parser) balanced(open, close string) string {
	start := p.peek().pos
	depth := 0
	for {
		t := p.next()
		switch {
		case t.kind == "eof":
			return p.src[start:]
		case t.text == open:
			depth++
		case t.text == close:
			depth--
			if depth == 0 {
				return strings.TrimSpace(p.src[start+len(open) : t.pos])
			}
		}
	}
}
