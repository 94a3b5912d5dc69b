package ciplatform

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// DefaultAuthorityHost is Entra ID's public cloud login endpoint.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// azurePipelines is Azure Pipelines. Its own OIDC token (System.OidcRequestUri)
// is issued for api://AzureADTokenExchange, to be exchanged at Entra ID, and
// the Keyserver must not accept it as it is (any pipeline of the organisation
// can get one for that audience). ks exchanges it, as workload identity
// federation does, for an Entra ID access token for the Keyserver's app.
type azurePipelines struct {
	getenv func(string) string
	http   *http.Client
}

func (a *azurePipelines) Name() string { return "Azure Pipelines" }

// setting reads a KSC_AZURE_* variable, else the AZURESUBSCRIPTION_* one an
// AzureCLI@2 task sets for its service connection.
func (a *azurePipelines) setting(name string) string {
	if v := strings.TrimSpace(a.getenv("KSC_AZURE_" + name)); v != "" {
		return v
	}
	return strings.TrimSpace(a.getenv("AZURESUBSCRIPTION_" + name))
}

func (a *azurePipelines) Token(ctx context.Context, audience string) (string, error) {
	clientID, tenantID, connection := a.setting("CLIENT_ID"), a.setting("TENANT_ID"), a.setting("SERVICE_CONNECTION_ID")
	if clientID == "" || tenantID == "" || connection == "" {
		return "", fmt.Errorf("on Azure Pipelines set KSC_AZURE_CLIENT_ID, KSC_AZURE_TENANT_ID and KSC_AZURE_SERVICE_CONNECTION_ID (the service connection's app, tenant and id) so that ks exchanges the pipeline's token for an Entra ID token, or set KSC_ID_TOKEN from `az account get-access-token` in an AzureCLI@2 task")
	}
	assertion, err := a.pipelineToken(ctx, connection)
	if err != nil {
		return "", err
	}
	return a.exchange(ctx, tenantID, clientID, audience, assertion)
}

// pipelineToken asks System.OidcRequestUri for the service connection's token.
func (a *azurePipelines) pipelineToken(ctx context.Context, connection string) (string, error) {
	raw, access := a.getenv("SYSTEM_OIDCREQUESTURI"), a.getenv("SYSTEM_ACCESSTOKEN")
	if raw == "" || access == "" {
		return "", fmt.Errorf("Azure Pipelines gives this step no OIDC token: map it with `env: { SYSTEM_ACCESSTOKEN: $(System.AccessToken) }`")
	}
	u, err := endpoint("SYSTEM_OIDCREQUESTURI", raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("api-version", "7.1")
	q.Set("serviceConnectionId", connection)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
	return fetchToken(a.http, req, "requesting the Azure Pipelines OIDC token", "oidcToken")
}

// exchange trades the pipeline's token for an Entra ID app token for
// audience (the Keyserver app's Application ID URI) by client assertion.
func (a *azurePipelines) exchange(ctx context.Context, tenantID, clientID, audience, assertion string) (string, error) {
	host := strings.TrimRight(a.getenv("AZURE_AUTHORITY_HOST"), "/")
	if host == "" {
		host = DefaultAuthorityHost
	}
	u, err := endpoint("AZURE_AUTHORITY_HOST", host+"/"+url.PathEscape(tenantID)+"/oauth2/v2.0/token")
	if err != nil {
		return "", err
	}
	scope := audience
	if !strings.HasSuffix(scope, "/.default") {
		scope = strings.TrimRight(scope, "/") + "/.default"
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return fetchToken(a.http, req, "exchanging the pipeline's token at Entra ID", "access_token")
}

// RunKey is the collection, build id, job id and job attempt.
func (a *azurePipelines) RunKey() string {
	e := a.getenv
	return joinKey("azure", e("SYSTEM_COLLECTIONID"), e("BUILD_BUILDID"), e("SYSTEM_JOBID"), e("SYSTEM_JOBATTEMPT"))
}
