#!/usr/bin/env bash
# Seed 001's tutorial against the local stack, step by step as README.md
# walks through it. Needs: KSC_API_SERVER, AUTH_SERVER, MODULE (the built
# libpkcs11ks.so) and a working directory to write into (WORKDIR).
set -euo pipefail
: "${KSC_API_SERVER:?}" "${AUTH_SERVER:?}" "${MODULE:?}" "${WORKDIR:?}"
cd "$WORKDIR"

token() { # client: seed 001's client_credentials call with HTTP Basic
  curl -sS --fail-with-body --tlsv1.3 -X POST -H "Authorization: Basic $(printf '%s:%s' "$1" "$1" | base64)" \
    -d "grant_type=client_credentials" "$AUTH_SERVER/oauth2/token" | jq -er .access_token
}

# 1. Authenticate as the pipeline. (Assigned before export: "export X=$(...)"
# would hide a failure from set -e.)
KSC_ID_TOKEN=$(token orderer-client)
export KSC_ID_TOKEN

# 2. Initiate the pipeline operation: key1 and key4 once each, 60 s.
KSC_OPERATION_ID=$(curl -sS --fail-with-body --tlsv1.3 -X 'POST' \
  "$KSC_API_SERVER/api/operations" \
  -H "Authorization: Bearer $KSC_ID_TOKEN" \
  -H 'accept: application/json' \
  -H 'Content-Type: application/json' \
  -d '{
"validms": 60000,
"description": "Building of firmware for XYZ development board",
"new-keyusagerestrictions": [
{
"keyid": "key1",
"maxusagecount": 1
},
{
"keyid": "key4",
"maxusagecount": 1
}
]
}' | jq -er .id)
export KSC_OPERATION_ID
echo "Operation ID: $KSC_OPERATION_ID"

# 3. Poll: not approved yet, key4 needs one approver.
STATUS=$(curl -sS --fail-with-body --tlsv1.3 "$KSC_API_SERVER/api/operations/$KSC_OPERATION_ID" \
  -H "Authorization: Bearer $KSC_ID_TOKEN" | jq -r .approved)
echo "Approved: $STATUS"
test "$STATUS" = false

# 4. An approver of key4 approves.
APPROVER_TOKEN=$(token approver-key4)
curl -sS --fail-with-body -X POST "$KSC_API_SERVER/api/operations/$KSC_OPERATION_ID/approve" \
  -H "Authorization: Bearer $APPROVER_TOKEN" -H 'Content-Type: application/json' \
  -d '{"comment": "firmware reviewed"}' | jq -er .status

# 5. The pipeline's poll loop (seed 000) now sees approved true.
for i in 1 2 3; do
  STATUS=$(curl -sS --fail-with-body --tlsv1.3 "$KSC_API_SERVER/api/operations/$KSC_OPERATION_ID" \
    -H "Authorization: Bearer $KSC_ID_TOKEN" | jq -r .approved)
  echo "Attempt $i - Approved: $STATUS"
  [ "$STATUS" = "true" ] && break
  sleep 1
done
test "$STATUS" = true

# 6. OpenSSL configuration for the PKCS#11 engine (openssl-ks.cnf).
cat > openssl-ks.cnf <<CNF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section
providers = provider_sect

[provider_sect]
default = default_sect
base = base_sect

[default_sect]
activate = 1

[base_sect]
activate = 1

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so
MODULE_PATH = $MODULE
init = 0
CNF
export OPENSSL_CONF=$PWD/openssl-ks.cnf
export KSC_API_SERVER KSC_OPERATION_ID
export KSC_OPERATION_DESCRIPTION="Building of firmware for XYZ development board"

# 7. List the keys the module exposes.
pkcs11-tool --module "$MODULE" --list-objects

# 8. Sign with OpenSSL through the module.
echo "Firmware image" > firmware.bin
openssl dgst -engine pkcs11 -keyform engine -sign "pkcs11:object=key1" -sha256 -out firmware.bin.sig firmware.bin

# 9. Verify with the certificate the module exports...
pkcs11-tool --module "$MODULE" --read-object --type cert --label key1 --output-file key1.der
openssl x509 -pubkey -noout -inform DER -in key1.der -out pubkey.pem -outform PEM
openssl dgst -sha256 -verify pubkey.pem -signature firmware.bin.sig firmware.bin

# ...and with the one the API serves (seed 000).
curl --fail-with-body -sS -H "Authorization: Bearer $KSC_ID_TOKEN" -H "Accept: application/json" \
  "$KSC_API_SERVER/api/keys/key1" | jq -er '.certificate' > certificate.pem
openssl x509 -in certificate.pem -pubkey -noout > pubkey-api.pem
openssl dgst -verify pubkey-api.pem -sha256 -signature firmware.bin.sig firmware.bin

# 10. The one use of key1 is spent: a second signature is refused.
if openssl dgst -engine pkcs11 -keyform engine -sign "pkcs11:object=key1" -sha256 -out again.sig firmware.bin 2>refused.txt; then
  echo "a second signature with key1 was not refused" >&2
  exit 1
fi
grep -q "libpkcs11ks: .*has used up its signatures with key key1" refused.txt
echo "tutorial: all steps passed"
