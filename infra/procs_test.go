package infra_test

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flexProcs is the whole cores, at least one, of a Flex Consumption
// instance of each memory size: Azure documents 0.25, 1 and 2 cores.
var flexProcs = map[string]string{"512": "1", "2048": "1", "4096": "2"}

// TestGOMAXPROCSFollowsTheInstanceSize checks that the handler runs one Go
// processor per whole core of the instance size the template deploys (at
// least one), and that the size is the parameter's.
func TestGOMAXPROCSFollowsTheInstanceSize(t *testing.T) {
	bicep := mustRead(t, "main.bicep")
	tmpl, err := parseTemplate(bicep)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := tmpl.appSettings()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := settings["GOMAXPROCS"], "string(instanceCores[string(instanceMemoryMB)])"; got != want {
		t.Errorf("GOMAXPROCS is %q, want %q", got, want)
	}
	app := tmpl.find("resource", "functionApp").object()
	if got := app.str("properties", "functionAppConfig", "scaleAndConcurrency", "instanceMemoryMB"); got != "instanceMemoryMB" {
		t.Errorf("functionAppConfig's instanceMemoryMB is %q, want the parameter instanceMemoryMB", got)
	}
	cores, ok := tmpl.find("var", "instanceCores").body.(*object)
	if !ok {
		t.Fatal("main.bicep has no object var instanceCores")
	}
	for _, key := range cores.keys {
		size := strings.Trim(key, "'")
		want, known := flexProcs[size]
		if !known {
			t.Errorf("instanceCores names %s MB, which is no Flex Consumption instance size", size)
			continue
		}
		if got := cores.str(key); got != want {
			t.Errorf("instanceCores gives %s MB %s processors, want %s", size, got, want)
		}
	}
	allowed := regexp.MustCompile(`@allowed\(\[\s*([0-9\s]+)\]\)\s*param instanceMemoryMB int = (\d+)`).FindStringSubmatch(bicep)
	if allowed == nil {
		t.Fatal("main.bicep has no param instanceMemoryMB int with @allowed sizes and a default")
	}
	sizes := strings.Fields(allowed[1])
	slices.Sort(sizes)
	if want := slices.Sorted(maps.Keys(flexProcs)); !slices.Equal(sizes, want) {
		t.Errorf("instanceMemoryMB allows %v, want %v", sizes, want)
	}
	var mapped []string
	for _, k := range cores.keys {
		mapped = append(mapped, strings.Trim(k, "'"))
	}
	if slices.Sort(mapped); !slices.Equal(mapped, sizes) {
		t.Errorf("instanceCores maps %v, want each allowed size %v", mapped, sizes)
	}
	if allowed[2] != "2048" {
		t.Errorf("instanceMemoryMB defaults to %s, want 2048 (one core, as the docs and make bench say)", allowed[2])
	}
}
