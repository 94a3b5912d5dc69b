#!/usr/bin/env bash
# Deploys the Keyserver: infra/main.bicep into an existing resource group, then
# the function app package built by `make funcapp` (.funcapp/).
#
# Required: RESOURCE_GROUP, NAME_PREFIX, TRUSTED_ISSUERS (JSON array).
# Optional: BOOTSTRAP_ADMINS (JSON array, default []), USE_MANAGED_HSM (true|false,
#           default false), MANAGED_HSM_NAME, SERVICEBUS_SKU (Standard|Premium),
#           LOCATION (default: the resource group's).
# The dev auth server is never deployed.
set -euo pipefail

die() { echo "deploy: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v jq >/dev/null 2>&1 || die "jq is not installed"
az account show >/dev/null 2>&1 || die "not logged in to Azure: run 'az login' (and 'az account set -s <subscription>')"

[[ -n "${RESOURCE_GROUP:-}" ]] || die "RESOURCE_GROUP is not set: export RESOURCE_GROUP=<existing resource group>"
[[ -n "${NAME_PREFIX:-}" ]] || die "NAME_PREFIX is not set: a short lowercase prefix, e.g. export NAME_PREFIX=ks"
[[ -n "${TRUSTED_ISSUERS:-}" ]] || die "TRUSTED_ISSUERS is not set: a JSON array of {\"issuer\",\"audience\",\"subjectclaim\"}"
BOOTSTRAP_ADMINS="${BOOTSTRAP_ADMINS:-[]}"
USE_MANAGED_HSM="${USE_MANAGED_HSM:-false}"
MANAGED_HSM_NAME="${MANAGED_HSM_NAME:-}"
SERVICEBUS_SKU="${SERVICEBUS_SKU:-Standard}"

jq -e 'type == "array"' <<<"$TRUSTED_ISSUERS" >/dev/null 2>&1 || die "TRUSTED_ISSUERS is not a JSON array"
jq -e 'type == "array"' <<<"$BOOTSTRAP_ADMINS" >/dev/null 2>&1 || die "BOOTSTRAP_ADMINS is not a JSON array"
case "$USE_MANAGED_HSM" in
true) [[ -n "$MANAGED_HSM_NAME" ]] || die "USE_MANAGED_HSM=true needs MANAGED_HSM_NAME" ;;
false) ;;
*) die "USE_MANAGED_HSM must be true or false, not '$USE_MANAGED_HSM'" ;;
esac

az group show --name "$RESOURCE_GROUP" >/dev/null 2>&1 ||
	die "resource group '$RESOURCE_GROUP' does not exist: az group create -n '$RESOURCE_GROUP' -l <region>"
LOCATION="${LOCATION:-$(az group show --name "$RESOURCE_GROUP" --query location -o tsv)}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A parameters file keeps the JSON strings as strings.
jq -n \
	--arg location "$LOCATION" \
	--arg namePrefix "$NAME_PREFIX" \
	--arg trustedIssuers "$TRUSTED_ISSUERS" \
	--arg bootstrapAdmins "$BOOTSTRAP_ADMINS" \
	--argjson useManagedHsm "$USE_MANAGED_HSM" \
	--arg managedHsmName "$MANAGED_HSM_NAME" \
	--arg serviceBusSku "$SERVICEBUS_SKU" \
	'{
	  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
	  contentVersion: "1.0.0.0",
	  parameters: {
	    location: {value: $location},
	    namePrefix: {value: $namePrefix},
	    trustedIssuers: {value: $trustedIssuers},
	    bootstrapAdmins: {value: $bootstrapAdmins},
	    useManagedHsm: {value: $useManagedHsm},
	    managedHsmName: {value: $managedHsmName},
	    serviceBusSku: {value: $serviceBusSku}
	  }
	}' >"$work/params.json"

echo "deploy: deploying infra/main.bicep to resource group $RESOURCE_GROUP ($LOCATION)"
az deployment group create \
	--resource-group "$RESOURCE_GROUP" \
	--name keyserver \
	--template-file "$here/main.bicep" \
	--parameters "@$work/params.json" \
	--query properties.outputs -o json >"$work/outputs.json"

out() { jq -r --arg k "$1" '.[$k].value' "$work/outputs.json"; }
app="$(out functionAppName)"
host="$(out functionAppHostName)"
principal="$(out functionAppPrincipalId)"
vault="$(out keyVaultUri)"

if [[ ! -f "$root/.funcapp/host.json" ]]; then
	echo "deploy: building the function app package (make funcapp)"
	make -C "$root" funcapp
fi
[[ -f "$root/.funcapp/host.json" ]] || die "make funcapp did not produce .funcapp/host.json"

if command -v func >/dev/null 2>&1; then
	echo "deploy: publishing .funcapp/ to $app with Azure Functions Core Tools"
	(cd "$root/.funcapp" && func azure functionapp publish "$app" --custom)
else
	command -v zip >/dev/null 2>&1 || die "neither func (Azure Functions Core Tools) nor zip is installed"
	echo "deploy: func not found; zip-deploying .funcapp/ to $app"
	(cd "$root/.funcapp" && zip -qr "$work/funcapp.zip" .)
	az functionapp deployment source config-zip \
		--resource-group "$RESOURCE_GROUP" --name "$app" --src "$work/funcapp.zip" >/dev/null
fi

echo
echo "deploy: done. Keyserver API: https://$host/api"
echo "deploy: signing keys live in: $vault"
if [[ "$USE_MANAGED_HSM" == true ]]; then
	echo "deploy: post-deploy (Managed HSM local RBAC cannot be set from Bicep); as an HSM administrator run, once per signing key:"
	echo "  az keyvault role assignment create --hsm-name '$MANAGED_HSM_NAME' --role 'Managed HSM Crypto User' \\"
	echo "    --scope /keys/<key-name> --assignee-object-id '$principal' --assignee-principal-type ServicePrincipal"
fi
echo "deploy: next steps (create keys, register them with the admin API) are in infra/README.md"
