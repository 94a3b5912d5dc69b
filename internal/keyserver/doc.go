// Package keyserver holds the Keyserver's domain: operations, approvals,
// usage limits, roles and the signing policy. It imports no Azure SDK; the
// adapters for Table Storage, Key Vault, Service Bus and OIDC implement the
// interfaces declared in ports.go.
package keyserver
