package keyvault

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// NewCredential builds the credential the Keyserver uses for the HSM:
// "managedidentity" (the default; AZURE_CLIENT_ID selects a user-assigned
// identity), "default" (DefaultAzureCredential) or "azurecli". Locally the
// stack points IDENTITY_ENDPOINT and IDENTITY_HEADER at the dev auth server.
func NewCredential(kind string) (azcore.TokenCredential, error) {
	switch kind {
	case "", "managedidentity":
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			opts.ID = azidentity.ClientID(id)
		}
		c, err := azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("creating managed identity credential: %w", err)
		}
		return c, nil
	case "default":
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("creating default Azure credential: %w", err)
		}
		return c, nil
	case "azurecli":
		c, err := azidentity.NewAzureCLICredential(nil)
		if err != nil {
			return nil, fmt.Errorf("creating Azure CLI credential: %w", err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("unknown Key Vault credential %q: use managedidentity, default or azurecli", kind)
}
