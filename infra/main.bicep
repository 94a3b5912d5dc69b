// Keyserver: an Azure Functions custom handler (Go) on a Linux Flex Consumption
// plan, with identity-based access to everything it uses. No keys, no
// connection strings with secrets, no shared-key storage access.
//
// Deploy at resource-group scope (see deploy.sh). Post-deploy steps are in README.md.
targetScope = 'resourceGroup'

@description('Azure region of every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Short lowercase prefix of resource names (letters and digits).')
@minLength(2)
@maxLength(10)
param namePrefix string

@description('JSON array of {"issuer","audience","subjectclaim","personclaim","discoveryurl","sameas"}: the OIDC issuers whose tokens the Keyserver accepts (KEYSERVER_TRUSTED_ISSUERS; see docs/ARCHITECTURE.md, People and apps).')
param trustedIssuers string

@description('JSON array of {"issuer","subject","kind"} that hold admin without being registered (KEYSERVER_BOOTSTRAP_ADMINS).')
param bootstrapAdmins string = '[]'

@description('true: sign with an existing Managed HSM (managedHsmName); false: create a Key Vault Premium (HSM-backed keys).')
param useManagedHsm bool = false

@description('Name of an existing Managed HSM in this subscription; used only when useManagedHsm is true.')
param managedHsmName string = ''

// Duplicate detection, which the notifier relies on, needs Standard or Premium.
@description('Service Bus namespace SKU.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageAccountName = take('${namePrefix}st${suffix}', 24)
var keyVaultName = take('${namePrefix}kv${suffix}', 24)
var serviceBusName = '${namePrefix}-sb-${suffix}'
var functionAppName = '${namePrefix}-func-${suffix}'
var deploymentContainerName = 'app-package-${suffix}'
var approvalsQueueName = 'approvals'
var tablePrefix = 'ks'
var keyserverTables = [
  '${tablePrefix}Keys'
  '${tablePrefix}Subjects'
  '${tablePrefix}Operations'
  '${tablePrefix}Audit'
  '${tablePrefix}Policies'
]

// Built-in role definition ids (the same in every tenant).
var roleStorageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var roleStorageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var roleKeyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424' // Key Vault Crypto User
var roleServiceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var roleMonitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

// ---------------------------------------------------------------- storage

// One account for the Functions host (AzureWebJobsStorage, deployment
// packages) and the Keyserver tables. Entra ID only.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for t in keyserverTables: {
    parent: tableService
    name: t
  }
]

// ---------------------------------------------------------------- monitoring

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-log-${suffix}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

// Local (instrumentation key) ingestion is off: the app authenticates with
// its identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING below).
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-appi-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------- service bus

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: serviceBusName
  location: location
  sku: {
    name: serviceBusSku
    tier: serviceBusSku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Message id = notification id, so duplicate detection drops outbox
// re-sends. Window and TTL match the notifier's 24h message TTL.
resource approvalsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: serviceBus
  name: approvalsQueueName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: true
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

// ---------------------------------------------------------------- keys

// Created only without a Managed HSM. Premium: keys can be RSA-HSM / EC-HSM.
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = if (!useManagedHsm) {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

var keyVaultUri = useManagedHsm ? 'https://${managedHsmName}.managedhsm.azure.net/' : keyVault!.properties.vaultUri

// ---------------------------------------------------------------- function app

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

// Flex Consumption takes the worker runtime from functionAppConfig.runtime
// ('custom' = custom handler) and rejects FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION as app settings.
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        // Functions host storage through the app's identity.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        // The connection string names the resource only; ingestion is
        // authenticated with the identity (local auth is disabled).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        // Read by the handler (docs/ARCHITECTURE.md).
        {
          name: 'KEYSERVER_TABLES_ENDPOINT'
          value: 'https://${storage.name}.table.${environment().suffixes.storage}'
        }
        {
          name: 'KEYSERVER_TABLE_PREFIX'
          value: tablePrefix
        }
        {
          name: 'KEYSERVER_TRUSTED_ISSUERS'
          value: trustedIssuers
        }
        {
          name: 'KEYSERVER_BOOTSTRAP_ADMINS'
          value: bootstrapAdmins
        }
        {
          name: 'KEYSERVER_KEYVAULT_CREDENTIAL'
          value: 'managedidentity'
        }
        {
          name: 'KEYSERVER_SIGN_TIMEOUT'
          value: '10s'
        }
        {
          name: 'KEYSERVER_SERVICEBUS_NAMESPACE'
          value: '${serviceBus.name}.servicebus.windows.net'
        }
        {
          name: 'KEYSERVER_SERVICEBUS_QUEUE'
          value: approvalsQueue.name
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// No FTP publishing with basic credentials.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------- role assignments
// Names use functionApp.id (known at compile time), not the principal id.

// Host storage: blob leases, host keys, timer locks, and the deployment
// package container. Blob Data Owner is what the Functions host needs for an
// identity-based AzureWebJobsStorage; no queue role, as no blob or queue
// trigger is used.
resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roleStorageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleStorageBlobDataOwner)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Keyserver tables (keys, subjects, operations, audit, trust policies).
resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roleStorageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleStorageTableDataContributor)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Sign (and read public keys) with the vault's keys; no key management.
resource keyVaultCryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useManagedHsm) {
  name: guid(resourceGroup().id, keyVaultName, functionApp.id, roleKeyVaultCryptoUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleKeyVaultCryptoUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Send approval notifications to this one queue only.
resource serviceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(approvalsQueue.id, functionApp.id, roleServiceBusDataSender)
  scope: approvalsQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleServiceBusDataSender)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry ingestion with Entra ID (DisableLocalAuth on the component).
resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionApp.id, roleMonitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleMonitoringMetricsPublisher)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------- outputs

output functionAppName string = functionApp.name
output functionAppHostName string = functionApp.properties.defaultHostName
output functionAppPrincipalId string = functionApp.identity.principalId
output keyVaultUri string = keyVaultUri
output storageAccountName string = storage.name
