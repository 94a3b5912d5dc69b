// Package functions holds the function.json of every Azure Function of the
// Keyserver, one folder per function, and reads them for the checks that keep
// them consistent with the handler's routes and the infra.
package functions

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed */function.json
var files embed.FS

// Binding is one binding of a function.json, as written.
type Binding map[string]any

// Str returns a string property of the binding, or "".
func (b Binding) Str(key string) string { s, _ := b[key].(string); return s }

// Function is one function folder.
type Function struct {
	Name     string
	Bindings []Binding
}

// Trigger returns the function's trigger binding, or nil.
func (f Function) Trigger() Binding {
	for _, b := range f.Bindings {
		if strings.HasSuffix(b.Str("type"), "Trigger") {
			return b
		}
	}
	return nil
}

// All returns every function, by name.
func All() ([]Function, error) {
	paths, err := fs.Glob(files, "*/function.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var fns []Function
	for _, p := range paths {
		b, err := files.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var fj struct{ Bindings []Binding }
		if err := json.Unmarshal(b, &fj); err != nil {
			return nil, fmt.Errorf("functions/%s: %w", p, err)
		}
		fns = append(fns, Function{Name: path.Dir(p), Bindings: fj.Bindings})
	}
	return fns, nil
}
