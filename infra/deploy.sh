#!/usr/bin/env bash
# Deploys the Keyserver: infra/main.bicep into an existing resource group, then
# the function app package built by `make funcapp` (.funcapp/).
#
# Required: RESOURCE_GROUP, NAME_PREFIX, TRUSTED_ISSUERS (JSON array).
# Optional: BOOTSTRAP_ADMINS (JSON array, default []), USE_MANAGED_HSM (true|false,
#           default false), MANAGED_HSM_NAME, SERVICEBUS_SKU (Standard|Premium),
#           PRIVATE_NETWORKING (true|false, default false), PUBLIC_URL,
#           RETENTION_DAYS (default 90), INSTANCE_MEMORY_MB (512|2048|4096,
#           default 2048), VAULT_NAME_SALT, LOCATION (default:
#           the resource group's), PUBLISH_ATTEMPTS (default 10),
#           PUBLISH_RETRY_SECONDS (default 30).
# The dev auth server is never deployed.
set -euo pipefail

die() { echo "deploy: $*" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v jq >/dev/null 2>&1 || die "jq is not installed"

[[ -n "${RESOURCE_GROUP:-}" ]] || die "RESOURCE_GROUP is not set: export RESOURCE_GROUP=<existing resource group>"
[[ -n "${NAME_PREFIX:-}" ]] || die "NAME_PREFIX is not set: a short lowercase prefix, e.g. export NAME_PREFIX=ks"
# The prefix becomes part of the storage account and Key Vault names: lowercase
# letters and digits only, starting with a letter, 2 to 10 characters.
[[ "$NAME_PREFIX" =~ ^[a-z][a-z0-9]{1,9}$ ]] ||
	die "NAME_PREFIX '$NAME_PREFIX' is invalid: use 2 to 10 lowercase letters and digits, starting with a letter"
[[ -n "${TRUSTED_ISSUERS:-}" ]] || die "TRUSTED_ISSUERS is not set: a JSON array of {\"issuer\",\"audience\",\"subjectclaim\"}"
BOOTSTRAP_ADMINS="${BOOTSTRAP_ADMINS:-[]}"
USE_MANAGED_HSM="${USE_MANAGED_HSM:-false}"
MANAGED_HSM_NAME="${MANAGED_HSM_NAME:-}"
PRIVATE_NETWORKING="${PRIVATE_NETWORKING:-false}"
SERVICEBUS_SKU="${SERVICEBUS_SKU:-$([[ "$PRIVATE_NETWORKING" == true ]] && echo Premium || echo Standard)}"
PUBLIC_URL="${PUBLIC_URL:-}"
RETENTION_DAYS="${RETENTION_DAYS:-90}"
INSTANCE_MEMORY_MB="${INSTANCE_MEMORY_MB:-2048}"
PUBLISH_ATTEMPTS="${PUBLISH_ATTEMPTS:-10}"
PUBLISH_RETRY_SECONDS="${PUBLISH_RETRY_SECONDS:-30}"

jq -e 'type == "array"' <<<"$TRUSTED_ISSUERS" >/dev/null 2>&1 || die "TRUSTED_ISSUERS is not a JSON array"
jq -e 'type == "array"' <<<"$BOOTSTRAP_ADMINS" >/dev/null 2>&1 || die "BOOTSTRAP_ADMINS is not a JSON array"
case "$USE_MANAGED_HSM" in
true) [[ -n "$MANAGED_HSM_NAME" ]] || die "USE_MANAGED_HSM=true needs MANAGED_HSM_NAME" ;;
false) ;;
*) die "USE_MANAGED_HSM must be true or false, not '$USE_MANAGED_HSM'" ;;
esac
case "$PRIVATE_NETWORKING" in
true) [[ "$SERVICEBUS_SKU" == Premium ]] || die "PRIVATE_NETWORKING=true needs SERVICEBUS_SKU=Premium: only Premium namespaces take private endpoints" ;;
false) ;;
*) die "PRIVATE_NETWORKING must be true or false, not '$PRIVATE_NETWORKING'" ;;
esac
case "$SERVICEBUS_SKU" in
Standard | Premium) ;;
*) die "SERVICEBUS_SKU must be Standard or Premium, not '$SERVICEBUS_SKU'" ;;
esac
[[ "$RETENTION_DAYS" =~ ^[1-9][0-9]{0,4}$ ]] || die "RETENTION_DAYS must be a whole number of days, not '$RETENTION_DAYS'"
case "$INSTANCE_MEMORY_MB" in
512 | 2048 | 4096) ;;
*) die "INSTANCE_MEMORY_MB must be 512, 2048 or 4096, not '$INSTANCE_MEMORY_MB'" ;;
esac
[[ -z "$PUBLIC_URL" || "$PUBLIC_URL" =~ ^https://[^/]+$ ]] || die "PUBLIC_URL must be https://<host>, without a path"
[[ "$PUBLISH_ATTEMPTS" =~ ^[1-9][0-9]*$ && "$PUBLISH_RETRY_SECONDS" =~ ^[0-9]+$ ]] ||
	die "PUBLISH_ATTEMPTS and PUBLISH_RETRY_SECONDS must be whole numbers"

az account show >/dev/null 2>&1 || die "not logged in to Azure: run 'az login' (and 'az account set -s <subscription>')"
az group show --name "$RESOURCE_GROUP" >/dev/null 2>&1 ||
	die "resource group '$RESOURCE_GROUP' does not exist: az group create -n '$RESOURCE_GROUP' -l <region>"
LOCATION="${LOCATION:-$(az group show --name "$RESOURCE_GROUP" --query location -o tsv)}"

# The Key Vault has purge protection, so its name stays reserved for 90 days
# after the vault is deleted. Its name carries a salt kept in a tag of the
# resource group: a redeployment reuses the vault, and a new resource group
# (after the old one was deleted) gets a new salt and a free name. A
# resource group deployed before names were salted keeps its vault ("none").
salt_tag=keyserverVaultSalt
salt="${VAULT_NAME_SALT:-$(az group show --name "$RESOURCE_GROUP" --query "tags.$salt_tag" -o tsv 2>/dev/null || true)}"
if [[ -z "$salt" ]]; then
	if az deployment group show --resource-group "$RESOURCE_GROUP" --name keyserver >/dev/null 2>&1; then
		salt=none
	else
		salt="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-6)"
	fi
fi
[[ "$salt" == none || "$salt" =~ ^[a-z0-9]{1,8}$ ]] || die "VAULT_NAME_SALT '$salt' is invalid: use 1 to 8 lowercase letters and digits"
az group update --name "$RESOURCE_GROUP" --set "tags.$salt_tag=$salt" >/dev/null ||
	die "could not record the Key Vault name salt in tag $salt_tag of $RESOURCE_GROUP"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A parameters file keeps the JSON strings as strings.
jq -n \
	--arg location "$LOCATION" \
	--arg namePrefix "$NAME_PREFIX" \
	--arg vaultNameSalt "$salt" \
	--arg trustedIssuers "$TRUSTED_ISSUERS" \
	--arg bootstrapAdmins "$BOOTSTRAP_ADMINS" \
	--argjson useManagedHsm "$USE_MANAGED_HSM" \
	--arg managedHsmName "$MANAGED_HSM_NAME" \
	--arg serviceBusSku "$SERVICEBUS_SKU" \
	--arg publicUrl "$PUBLIC_URL" \
	--argjson retentionDays "$RETENTION_DAYS" \
	--argjson instanceMemoryMB "$INSTANCE_MEMORY_MB" \
	--argjson enablePrivateNetworking "$PRIVATE_NETWORKING" \
	'{
	  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
	  contentVersion: "1.0.0.0",
	  parameters: {
	    location: {value: $location},
	    namePrefix: {value: $namePrefix},
	    vaultNameSalt: {value: $vaultNameSalt},
	    trustedIssuers: {value: $trustedIssuers},
	    bootstrapAdmins: {value: $bootstrapAdmins},
	    useManagedHsm: {value: $useManagedHsm},
	    managedHsmName: {value: $managedHsmName},
	    serviceBusSku: {value: $serviceBusSku},
	    publicUrl: {value: $publicUrl},
	    retentionDays: {value: $retentionDays},
	    instanceMemoryMB: {value: $instanceMemoryMB},
	    enablePrivateNetworking: {value: $enablePrivateNetworking}
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
workspace="$(out logAnalyticsWorkspaceId)"

if [[ ! -f "$root/.funcapp/host.json" ]]; then
	echo "deploy: building the function app package (make funcapp)"
	make -C "$root" funcapp
fi
[[ -f "$root/.funcapp/host.json" ]] || die "make funcapp did not produce .funcapp/host.json"

publish() {
	if command -v func >/dev/null 2>&1; then
		(cd "$root/.funcapp" && func azure functionapp publish "$app" --custom)
	else
		command -v zip >/dev/null 2>&1 || die "neither func (Azure Functions Core Tools) nor zip is installed"
		rm -f "$work/funcapp.zip"
		(cd "$root/.funcapp" && zip -qr "$work/funcapp.zip" .)
		az functionapp deployment source config-zip \
			--resource-group "$RESOURCE_GROUP" --name "$app" --src "$work/funcapp.zip" >/dev/null
	fi
}

# The app's identity reads the package from its container; a role assignment
# made a minute ago may not apply yet, and the first publish then fails with
# 403. Retry while it propagates.
echo "deploy: publishing .funcapp/ to $app"
attempt=1
until publish; do
	if ((attempt >= PUBLISH_ATTEMPTS)); then
		die "publishing to $app failed $attempt times; run infra/deploy.sh again once the role assignments apply"
	fi
	echo "deploy: publishing failed (attempt $attempt of $PUBLISH_ATTEMPTS); role assignments may still be propagating, retrying in ${PUBLISH_RETRY_SECONDS}s" >&2
	sleep "$PUBLISH_RETRY_SECONDS"
	attempt=$((attempt + 1))
done

echo
echo "deploy: done. Keyserver API: https://$host/api"
echo "deploy: signing keys live in: $vault"
echo "deploy: Key Vault audit logs (every signature) go to Log Analytics workspace: $workspace"
if [[ "$USE_MANAGED_HSM" == true ]]; then
	echo "deploy: post-deploy (Managed HSM local RBAC cannot be set from Bicep); as an HSM administrator, see infra/README.md"
	echo "  'Managed HSM: the signer role', then run once per signing key:"
	echo "  az keyvault role assignment create --hsm-name '$MANAGED_HSM_NAME' --role 'Keyserver Signer' \\"
	echo "    --scope /keys/<key-name> --assignee-object-id '$principal' --assignee-principal-type ServicePrincipal"
fi
echo "deploy: next steps (create keys, register them with the admin API) are in infra/README.md"
