package infra_test

import (
	"slices"
	"strings"
	"testing"

	"keyserver/internal/app"
)

// TestChecksCatchBreakage breaks main.bicep in one way per case and expects
// the checks to say so, so that TestMainBicep can fail.
func TestChecksCatchBreakage(t *testing.T) {
	handler := app.Settings
	fns := mustFunctionFolders(t)
	bicep := mustRead(t, "main.bicep")
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown setting", "'KEYSERVER_SIGN_TIMEOUT'", "'KEYSERVER_SIGNING_TIMEOUT'", "not a setting the handler reads"},
		{"missing setting", "name: 'KEYSERVER_TABLE_PREFIX'", "name: 'X_TABLE_PREFIX'", "KEYSERVER_TABLE_PREFIX is missing"},
		{"ca file", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_KEYVAULT_CA_FILE'", "local only"},
		{"connection string", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_TABLES_CONNECTION_STRING'", "KEYSERVER_TABLES_CONNECTION_STRING must not be set"},
		{"local webhook secret", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_LOCAL_WEBHOOK_SECRET'", "KEYSERVER_LOCAL_WEBHOOK_SECRET must not be set"},
		{"optional setting", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_MAX_VALIDITY'", "not one infra sets"},
		{"host storage", "name: 'AzureWebJobsStorage__accountName'", "name: 'AzureWebJobsStorage'", "AzureWebJobsStorage must not be set"},
		{"worker runtime", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'FUNCTIONS_WORKER_RUNTIME'", "must not be set"},
		{"account key", "value: storage.name", "value: 'AccountKey=${storage.name}'", "AccountKey="},
		{"list keys", "value: storage.name", "value: storage.listKeys().keys[0].value", "listKeys("},
		{"dev auth", "param location string", "param devAuthUrl string\nparam location string", "devauth"},
		{"shared key", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", "allowSharedKeyAccess: false"},
		{"ftpsState", "minTlsVersion: '1.2'", "minTlsVersion: '1.2'\n      ftpsState: 'Disabled'", "siteConfig.ftpsState is rejected"},
		{"alwaysOn", "minTlsVersion: '1.2'", "minTlsVersion: '1.2'\n      alwaysOn: true", "siteConfig.alwaysOn is rejected"},
		{"wrong role", "'4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver", "'12338af0-0e69-4776-bea7-57ae8d297424' // Key Vault Crypto User", "unexpected role"},
		{"blob owner on the account", "scope: deploymentContainer", "scope: storage", "assign it to containers only"},
		{"receiver on the topic", "scope: notifySubscription", "scope: eventsTopic", "no Azure Service Bus Data Receiver role on notifySubscription"},
		{"sender on the namespace", "scope: eventsTopic\n", "scope: serviceBus\n", "role Azure Service Bus Data Sender is not assigned at eventsTopic"},
		{"signer may decrypt", "'Microsoft.KeyVault/vaults/keys/sign/action'", "'Microsoft.KeyVault/vaults/keys/sign/action'\n          'Microsoft.KeyVault/vaults/keys/decrypt/action'", "signerRole allows data actions"},
		{"signer assignable anywhere", "      resourceGroup().id\n    ]", "      subscription().id\n    ]", "assignable in this resource group only"},
		{"no timer locks", "scope: hostContainers[i]", "scope: deploymentContainer", "cannot write its timer locks"},
		{"topic name", "eventsTopicName = 'keyserver-events'", "eventsTopicName = 'events'", "differs from the handler's default"},
		{"connection setting", "name: '${serviceBusConnection}__fullyQualifiedNamespace'", "name: 'SB__fullyQualifiedNamespace'", "needs the app setting KEYSERVER_SERVICEBUS__fullyQualifiedNamespace"},
		{"subscription setting", "name: 'KEYSERVER_SERVICEBUS_SUBSCRIPTION'", "name: 'KEYSERVER_SB_SUBSCRIPTION'", "refers to app setting KEYSERVER_SERVICEBUS_SUBSCRIPTION"},
		{"subscription setting value", "value: notifySubscription.name", "value: 'notify'", "is not a Microsoft.ServiceBus/namespaces/topics/subscriptions"},
		{"no audit logs", "category: 'AuditEvent'", "category: 'AzurePolicyEvaluationDetails'", "no diagnostic setting"},
		{"private by default", "param enablePrivateNetworking bool = false", "param enablePrivateNetworking bool = true", "default to false"},
		{"storage always public", "publicNetworkAccess: publicAccess\n    networkAcls: {\n      defaultAction: enablePrivateNetworking ? 'Deny' : 'Allow'\n      bypass: 'None'\n    }\n  }\n}\n\nresource blobService", "publicNetworkAccess: 'Enabled'\n  }\n}\n\nresource blobService", "storage.properties.publicNetworkAccess"},
		{"no vault endpoint", "group: 'vault'", "group: 'vaults'", "no private endpoint for group vault"},
		{"short dedup window", "duplicateDetectionHistoryTimeWindow: 'P1D'", "duplicateDetectionHistoryTimeWindow: 'PT10M'", "shorter than"},
		{"unused param", "param location string", "param unusedThing string\nparam location string", "unusedThing is never used"},
		{"unused named in comment", "param location string", "// extraParam\n@description('extraParam')\nparam extraParam string\nparam location string", "extraParam is never used"},
		{"missing output", "output keyVaultUri string", "output vaultUri string", "output keyVaultUri is missing"},
		{"unbalanced", "  properties: {\n    allowSharedKeyAccess", "  properties: \n    allowSharedKeyAccess", "unbalanced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(bicep, tt.old) {
				t.Fatalf("main.bicep no longer contains %q; update this case", tt.old)
			}
			broken := strings.Replace(bicep, tt.old, tt.new, 1)
			problems := bicepProblems(broken, handler, fns)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("no problem mentions %q; got %q", tt.want, problems)
			}
		})
	}
}

// TestFunctionChecksCatchBreakage breaks the function folders one way per
// case and expects the checks to say so.
func TestFunctionChecksCatchBreakage(t *testing.T) {
	handler := app.Settings
	bicep := mustRead(t, "main.bicep")
	tests := []struct {
		name, function, key string
		value               any
		want                string
	}{
		{"literal topic", "notify", "topicName", "keyserver-events", "must name an app setting"},
		{"unknown setting", "notify", "subscriptionName", "%KEYSERVER_NOTIFY_SUBSCRIPTION%", "refers to app setting KEYSERVER_NOTIFY_SUBSCRIPTION"},
		{"other connection", "notify", "connection", "ServiceBusConnection", "needs the app setting ServiceBusConnection__fullyQualifiedNamespace"},
		{"queue trigger", "notify", "type", "queueTrigger", "has no check here"},
		{"bad schedule", "upkeep", "schedule", "every minute", "NCRONTAB"},
		{"run on startup", "upkeep", "runOnStartup", true, "runOnStartup"},
		{"function key", "health", "authLevel", "function", "authLevel must be anonymous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := mustFunctionFolders(t)
			found := false
			for _, fn := range fns {
				if fn.name == tt.function {
					fn.bindings[0][tt.key] = tt.value
					found = true
				}
			}
			if !found {
				t.Fatalf("no function %s", tt.function)
			}
			problems := bicepProblems(bicep, handler, fns)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("no problem mentions %q; got %q", tt.want, problems)
			}
		})
	}
}
