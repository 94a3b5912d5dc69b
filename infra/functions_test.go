package infra_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"keyserver/functions"
	"keyserver/internal/app"
)

// functionFolder is one functions/<name>/function.json.
type functionFolder struct {
	name     string
	bindings []map[string]any
}

func mustFunctionFolders(tb testing.TB) []functionFolder {
	tb.Helper()
	all, err := functions.All()
	if err != nil || len(all) == 0 {
		tb.Fatalf("reading the function folders: %v (%d found)", err, len(all))
	}
	var fns []functionFolder
	for _, f := range all {
		fn := functionFolder{name: f.Name}
		for _, b := range f.Bindings {
			fn.bindings = append(fn.bindings, b)
		}
		fns = append(fns, fn)
	}
	return fns
}

var (
	settingRef = regexp.MustCompile(`^%([A-Za-z0-9_]+)%$`)
	// A six-field NCRONTAB schedule (seconds first), as timer triggers take.
	ncrontab = regexp.MustCompile(`^\S+ \S+ \S+ \S+ \S+ \S+$`)
)

// functionProblems checks every function folder against the template: each
// trigger has what it needs to run in Azure (settings, connection, role).
func functionProblems(p *problems, t *template, settings map[string]string, handler map[string]app.Setting, fns []functionFolder) {
	if len(fns) == 0 {
		p.add("no function folders")
	}
	for _, fn := range fns {
		triggers := 0
		for _, b := range fn.bindings {
			typ, _ := b["type"].(string)
			if strings.HasSuffix(typ, "Trigger") {
				triggers++
			}
			for k, v := range b {
				if s, ok := v.(string); ok && k != "schedule" {
					if m := settingRef.FindStringSubmatch(s); m != nil {
						if _, set := settings[m[1]]; !set {
							p.add("function %s: %s refers to app setting %s, which is not set", fn.name, k, m[1])
						}
					}
				}
			}
			switch typ {
			case "httpTrigger":
				if b["authLevel"] != "anonymous" {
					p.add("function %s: the handler authenticates every route itself; authLevel must be anonymous", fn.name)
				}
			case "http":
			case "timerTrigger":
				timerProblems(p, t, fn, b)
			case "serviceBusTrigger":
				serviceBusTriggerProblems(p, t, settings, handler, fn, b)
			default:
				p.add("function %s: binding type %q has no check here; add one", fn.name, typ)
			}
		}
		if triggers != 1 {
			p.add("function %s has %d triggers; want 1", fn.name, triggers)
		}
	}
}

// timerProblems: a timer needs a schedule and the host's lock blobs.
func timerProblems(p *problems, t *template, fn functionFolder, b map[string]any) {
	if s, _ := b["schedule"].(string); !ncrontab.MatchString(s) {
		p.add("function %s: schedule %q is not a six-field NCRONTAB expression", fn.name, s)
	}
	if b["runOnStartup"] == true {
		p.add("function %s: runOnStartup would run it at every scale-out", fn.name)
	}
	hosts := t.find("resource", "hostContainers")
	if hosts == nil || !strings.Contains(strings.Join(t.listVar("hostContainerNames"), ","), "azure-webjobs-hosts") {
		p.add("function %s: the timer keeps its schedule in the azure-webjobs-hosts container, which is not created", fn.name)
	}
	if !slices.Contains(t.grants(&problems{}), grant{"Storage Blob Data Owner", "hostContainers"}) {
		p.add("function %s: the host cannot write its timer locks (no Storage Blob Data Owner on the host containers)", fn.name)
	}
}

// serviceBusTriggerProblems: the trigger connects by identity to the topic's
// subscription that the template creates, with the receiver role on it.
func serviceBusTriggerProblems(p *problems, t *template, settings map[string]string, handler map[string]app.Setting, fn functionFolder, b map[string]any) {
	conn, _ := b["connection"].(string)
	ns, ok := settings[conn+"__fullyQualifiedNamespace"]
	if conn == "" || !ok {
		p.add("function %s: connection %q needs the app setting %s__fullyQualifiedNamespace", fn.name, conn, conn)
	} else if !strings.Contains(ns, "serviceBus.name") || !strings.Contains(ns, ".servicebus.windows.net") {
		p.add("function %s: %s__fullyQualifiedNamespace = %s is not the template's namespace", fn.name, conn, ns)
	}
	for _, s := range []string{conn + "__connectionString", conn} {
		if _, set := settings[s]; set {
			p.add("function %s: app setting %s would be a connection string; connect by identity", fn.name, s)
		}
	}
	topic := entityOf(p, t, settings, fn, b, "topicName", "Microsoft.ServiceBus/namespaces/topics")
	sub := entityOf(p, t, settings, fn, b, "subscriptionName", "Microsoft.ServiceBus/namespaces/topics/subscriptions")
	if topic != nil && sub != nil {
		if parent := sub.object().str("parent"); parent != topic.name {
			p.add("function %s: subscription %s belongs to %s, not topic %s", fn.name, sub.name, parent, topic.name)
		}
		name, _ := t.resolve(topic.object().str("name"))
		if def := handler["KEYSERVER_SERVICEBUS_TOPIC"].Default; name != def {
			p.add("function %s: topic %q differs from the handler's default %q", fn.name, name, def)
		}
	}
	if sub != nil && !slices.Contains(t.grants(&problems{}), grant{"Azure Service Bus Data Receiver", sub.name}) {
		p.add("function %s: no Azure Service Bus Data Receiver role on %s", fn.name, sub.name)
	}
}

// entityOf returns the resource a binding property names through an app
// setting (%SETTING% whose value is <resource>.name).
func entityOf(p *problems, t *template, settings map[string]string, fn functionFolder, b map[string]any, prop, typ string) *decl {
	v, _ := b[prop].(string)
	m := settingRef.FindStringSubmatch(v)
	if m == nil {
		p.add("function %s: %s %q must name an app setting (%%SETTING%%), so that the template decides it", fn.name, prop, v)
		return nil
	}
	val := settings[m[1]]
	sym, ok := strings.CutSuffix(val, ".name")
	d := t.find("resource", sym)
	if !ok || d == nil || d.resourceType() != typ {
		p.add("function %s: %s = %s (app setting %s) is not a %s of the template", fn.name, prop, val, m[1], typ)
		return nil
	}
	return d
}

// listVar returns the string items of an array var.
func (t *template) listVar(name string) []string {
	d := t.find("var", name)
	if d == nil {
		return nil
	}
	a, ok := d.body.(*array)
	if !ok {
		return nil
	}
	var out []string
	for _, it := range a.items {
		if s, ok := t.resolve(string(exprOf(it))); ok {
			out = append(out, s)
		}
	}
	return out
}

func exprOf(v value) expr { e, _ := v.(expr); return e }

// monitoringProblems: every Key Vault request, each signature included, is
// logged to Log Analytics.
func monitoringProblems(p *problems, t *template) {
	for _, d := range t.resources("Microsoft.Insights/diagnosticSettings") {
		o := d.object()
		if o.str("scope") != "keyVault" || o.str("properties", "workspaceId") != "logAnalytics.id" {
			continue
		}
		logs, _ := o.get("properties", "logs").(*array)
		for _, l := range logs.items {
			lo, ok := l.(*object)
			if ok && lo.str("enabled") == "true" && (lo.str("category") == "'AuditEvent'" || lo.str("categoryGroup") == "'audit'") {
				return
			}
		}
	}
	p.add("no diagnostic setting sends the Key Vault's AuditEvent logs to logAnalytics")
}

// networkProblems: private networking is an option, off by default, and when
// on it closes public access to storage, Key Vault and Service Bus.
func networkProblems(p *problems, t *template) {
	param := t.find("param", "enablePrivateNetworking")
	if param == nil || param.body != expr("false") {
		p.add("param enablePrivateNetworking must exist and default to false")
		return
	}
	if v := t.find("var", "publicAccess"); v == nil || v.body != expr("enablePrivateNetworking ? 'Disabled' : 'Enabled'") {
		p.add("var publicAccess must be enablePrivateNetworking ? 'Disabled' : 'Enabled'")
	}
	for _, sym := range []string{"storage", "keyVault", "serviceBus"} {
		if d := t.find("resource", sym); d == nil || d.object().str("properties", "publicNetworkAccess") != "publicAccess" {
			p.add("%s.properties.publicNetworkAccess must be publicAccess", sym)
		}
	}
	targets := strings.Join(t.rawOf("storageTargets", "vaultTargets"), "\n")
	for _, group := range []string{"blob", "table", "namespace", "vault"} {
		if !strings.Contains(targets, "group: '"+group+"'") {
			p.add("no private endpoint for group %s", group)
		}
	}
	if len(t.resources("Microsoft.Network/privateEndpoints")) == 0 || len(t.resources("Microsoft.Network/privateDnsZones/virtualNetworkLinks")) == 0 {
		p.add("private endpoints or their DNS zone links are missing")
	}
	app := t.find("resource", "functionApp").object()
	if !strings.HasPrefix(app.str("properties", "virtualNetworkSubnetId"), "enablePrivateNetworking ?") {
		p.add("the function app's VNet integration must follow enablePrivateNetworking")
	}
	if !strings.Contains(t.source, "serviceName: 'Microsoft.App/environments'") {
		p.add("the app subnet must be delegated to Microsoft.App/environments (Flex Consumption)")
	}
}

// rawOf returns the source text of vars, objects and arrays included.
func (t *template) rawOf(names ...string) []string {
	var out []string
	for _, n := range names {
		if d := t.find("var", n); d != nil {
			out = append(out, dump(d.body))
		}
	}
	return out
}

// dump prints a value back as Bicep-like text.
func dump(v value) string {
	switch x := v.(type) {
	case expr:
		return string(x)
	case *array:
		var parts []string
		for _, it := range x.items {
			parts = append(parts, dump(it))
		}
		return "[\n" + strings.Join(parts, "\n") + "\n]"
	case *object:
		var parts []string
		for _, k := range x.keys {
			parts = append(parts, k+": "+dump(x.vals[k]))
		}
		return "{\n" + strings.Join(parts, "\n") + "\n}"
	case *forArray:
		return "[for " + x.header + ": " + dump(x.body) + "]"
	}
	return ""
}

func TestFunctionFoldersUseKnownSettings(t *testing.T) {
	for _, fn := range mustFunctionFolders(t) {
		b, _ := os.ReadFile(filepath.Join("..", "functions", fn.name, "function.json"))
		for _, m := range regexp.MustCompile(`%([A-Za-z0-9_]+)%`).FindAllStringSubmatch(string(b), -1) {
			if s, ok := app.LookupSetting(m[1]); !ok || s.Azure != app.Infra {
				t.Errorf("function %s refers to %s, which app.Settings does not declare as set by infra", fn.name, m[1])
			}
		}
	}
}
