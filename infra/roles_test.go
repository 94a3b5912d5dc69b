package infra_test

import (
	"regexp"
	"slices"
	"strings"
)

// roleNames are the built-in roles main.bicep may assign, by definition id.
var roleNames = map[string]string{
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

// signerDataActions are all a custom Key Vault role may allow: read the
// public key, sign.
var signerDataActions = []string{
	"Microsoft.KeyVault/vaults/keys/read",
	"Microsoft.KeyVault/vaults/keys/sign/action",
}

// grant is one role assignment: the role's name (or the custom role's
// symbol) and the symbol of the resource it is scoped to.
type grant struct{ role, scope string }

// requiredGrants are the role assignments the app needs, each at the
// narrowest scope that works.
var requiredGrants = []grant{
	{"Storage Blob Data Owner", "deploymentContainer"},
	{"Storage Blob Data Owner", "hostContainers"},
	{"Storage Table Data Contributor", "storage"},
	{"custom:signerRole", "keyVault"},
	{"Azure Service Bus Data Sender", "eventsTopic"},
	{"Azure Service Bus Data Receiver", "notifySubscription"},
	{"Monitoring Metrics Publisher", "appInsights"},
}

var (
	guidPattern   = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	builtinRoleID = regexp.MustCompile(`^subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions',\s*(\w+)\)$`)
	customRoleID  = regexp.MustCompile(`^(\w+)\.id$`)
	indexedSymbol = regexp.MustCompile(`^(\w+)(?:\[\w+\])?$`)
)

// grants returns the template's role assignments.
func (t *template) grants(p *problems) []grant {
	var out []grant
	for _, d := range t.resources("Microsoft.Authorization/roleAssignments") {
		body := d.object()
		role := body.str("properties", "roleDefinitionId")
		g := grant{}
		if m := builtinRoleID.FindStringSubmatch(role); m != nil {
			id := strings.ToLower(t.vars[m[1]])
			g.role = roleNames[id]
			if g.role == "" {
				p.add("role assignment %s: unexpected role definition id %q", d.name, id)
			}
		} else if m := customRoleID.FindStringSubmatch(role); m != nil {
			g.role = "custom:" + m[1]
		} else {
			p.add("role assignment %s: role definition %q is neither built in nor a custom role of the template", d.name, role)
		}
		if m := indexedSymbol.FindStringSubmatch(body.str("scope")); m != nil {
			g.scope = m[1]
		} else {
			p.add("role assignment %s has no resource scope", d.name)
		}
		if body.str("properties", "principalId") != "functionApp.identity.principalId" {
			p.add("role assignment %s is not for the function app's identity", d.name)
		}
		out = append(out, g)
	}
	return out
}

func roleProblems(p *problems, t *template) {
	// Every built-in role id is commented with its name where it is written.
	for _, line := range strings.Split(t.source, "\n") {
		for _, id := range guidPattern.FindAllString(line, -1) {
			name, ok := roleNames[strings.ToLower(id)]
			switch {
			case !ok:
				p.add("unexpected role definition id %s", id)
			case !strings.Contains(line, "// "+name):
				p.add("role definition id %s is not commented with its name %q", id, name)
			}
		}
	}
	grants := t.grants(p)
	for _, want := range requiredGrants {
		if !slices.Contains(grants, want) {
			p.add("role %s is not assigned at %s", want.role, want.scope)
		}
	}
	for _, g := range grants {
		if g.role == "Storage Blob Data Owner" {
			if d := t.find("resource", g.scope); d == nil || d.resourceType() != "Microsoft.Storage/storageAccounts/blobServices/containers" {
				p.add("Storage Blob Data Owner is assigned at %s; assign it to containers only", g.scope)
			}
		}
		if !slices.Contains(requiredGrants, g) {
			p.add("role %s at %s is more than the app needs", g.role, g.scope)
		}
	}
	signerRoleProblems(p, t)
}

// signerRoleProblems checks that the custom Key Vault role reads keys and
// signs, and can do nothing else.
func signerRoleProblems(p *problems, t *template) {
	d := t.find("resource", "signerRole")
	if d == nil || d.resourceType() != "Microsoft.Authorization/roleDefinitions" {
		p.add("no custom role definition signerRole")
		return
	}
	perms, ok := d.object().get("properties", "permissions").(*array)
	if !ok || len(perms.items) != 1 {
		p.add("signerRole must have exactly one permission block")
		return
	}
	perm := perms.items[0].(*object)
	var got []string
	if a, ok := perm.get("dataActions").(*array); ok {
		for _, it := range a.items {
			if e, ok := it.(expr); ok {
				got = append(got, strings.Trim(string(e), "'"))
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, signerDataActions) {
		p.add("signerRole allows data actions %v; want exactly %v", got, signerDataActions)
	}
	for _, k := range []string{"actions", "notActions", "notDataActions"} {
		if a, ok := perm.get(k).(*array); !ok || len(a.items) != 0 {
			p.add("signerRole %s must be empty", k)
		}
	}
	if d.object().str("properties", "type") != "'CustomRole'" {
		p.add("signerRole is not a CustomRole")
	}
	if a, ok := d.object().get("properties", "assignableScopes").(*array); !ok || len(a.items) != 1 || a.items[0] != expr("resourceGroup().id") {
		p.add("signerRole must be assignable in this resource group only")
	}
}
