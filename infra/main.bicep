// Keyserver: an Azure Functions custom handler (Go) on a Linux Flex Consumption
// plan, with identity-based access to everything it uses. No keys, no
// connection strings with secrets, no shared-key storage access.
//
// Deploy at resource-group scope (see deploy.sh). Post-deploy steps are in README.md.
targetScope = 'resourceGroup'

@description('Azure region of every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@description('Short lowercase prefix of resource names: a letter, then 1 to 9 letters or digits.')
@minLength(2)
@maxLength(10)
param namePrefix string

@description('Salt of the Key Vault name (lowercase letters and digits, or none). A purge-protected vault name stays reserved for 90 days after deletion, so a new deployment needs a new name; deploy.sh keeps the salt in a tag of the resource group.')
@minLength(1)
@maxLength(8)
param vaultNameSalt string

@description('JSON array of {"issuer","audience","subjectclaim","personclaim","discoveryurl","sameas"}: the OIDC issuers whose tokens the Keyserver accepts (KEYSERVER_TRUSTED_ISSUERS; see docs/ARCHITECTURE.md, People and apps).')
param trustedIssuers string

@description('JSON array of {"issuer","subject","kind"} that hold admin without being registered (KEYSERVER_BOOTSTRAP_ADMINS).')
param bootstrapAdmins string = '[]'

@description('true: sign with an existing Managed HSM (managedHsmName); false: create a Key Vault Premium (HSM-backed keys).')
param useManagedHsm bool = false

@description('Name of an existing Managed HSM in this subscription; used only when useManagedHsm is true.')
param managedHsmName string = ''

// Duplicate detection, which the event publisher relies on, needs Standard or
// Premium. Private endpoints need Premium: private networking always uses it.
@description('Service Bus namespace SKU.')
@allowed([
  'Standard'
  'Premium'
])
param serviceBusSku string = 'Standard'

@description('Base URL of the Keyserver that notifications link to (KEYSERVER_PUBLIC_URL); empty means https://<function app>.azurewebsites.net.')
param publicUrl string = ''

@description('Days a finished operation is kept before upkeep deletes it; its audit events stay (KEYSERVER_RETENTION_DAYS).')
@minValue(1)
param retentionDays int = 90

@description('Memory of each Functions instance in MB: 512 (a quarter of a core), 2048 (one core) or 4096 (two cores).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('true: VNet integration for the app and private endpoints for Storage, Key Vault and Service Bus, whose public network access is then off. See README.md.')
param enablePrivateNetworking bool = false

var suffix = uniqueString(resourceGroup().id, namePrefix)
// Whole cores of a Flex Consumption instance of each memory size (at least
// one). The handler runs that many Go processors (GOMAXPROCS): Go's own
// default is at least two, and a second processor on a single core only
// spins between requests.
var instanceCores = {
  '512': 1
  '2048': 1
  '4096': 2
}
var storageAccountName = take('${namePrefix}st${suffix}', 24)
// 'none' keeps the unsalted name of a vault deployed before names were salted.
var vaultSalt = vaultNameSalt == 'none' ? '' : vaultNameSalt
var keyVaultName = take('${namePrefix}kv${vaultSalt}${suffix}', 24)
var serviceBusName = '${namePrefix}-sb-${suffix}'
var functionAppName = '${namePrefix}-func-${suffix}'
var deploymentContainerName = 'app-package-${suffix}'
// The containers the Functions host keeps its locks, timer schedules and keys in.
var hostContainerNames = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]
var eventsTopicName = 'keyserver-events'
var notifySubscriptionName = 'notify'
// The notify function's identity connection: <connection>__fullyQualifiedNamespace.
var serviceBusConnection = 'KEYSERVER_SERVICEBUS'
var tablePrefix = 'ks'
var keyserverTables = [
  '${tablePrefix}Keys'
  '${tablePrefix}Subjects'
  '${tablePrefix}Operations'
  '${tablePrefix}Audit'
  '${tablePrefix}Policies'
]
var serviceBusTier = enablePrivateNetworking ? 'Premium' : serviceBusSku
var publicAccess = enablePrivateNetworking ? 'Disabled' : 'Enabled'
var keyserverUrl = empty(publicUrl) ? 'https://${functionAppName}.azurewebsites.net' : publicUrl

// Built-in role definition ids (the same in every tenant).
var roleStorageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var roleStorageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var roleServiceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var roleServiceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
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
    publicNetworkAccess: publicAccess
    networkAcls: {
      defaultAction: enablePrivateNetworking ? 'Deny' : 'Allow'
      bypass: 'None'
    }
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

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in hostContainerNames: {
    parent: blobService
    name: c
    properties: {
      publicAccess: 'None'
    }
  }
]

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
    retentionInDays: 90
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
    name: serviceBusTier
    tier: serviceBusTier
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: publicAccess
  }
}

// Every event the Keyserver publishes. Message id = event id, so duplicate
// detection drops the re-sends of upkeep. Window and TTL match the
// publisher's 24h message TTL.
resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: serviceBus
  name: eventsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'P1D'
    defaultMessageTimeToLive: 'P1D'
  }
}

// Read by the notify function. A delivery that fails is retried up to
// maxDeliveryCount times, then dead-lettered: nothing is dropped silently.
resource notifySubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: notifySubscriptionName
  properties: {
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: true
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
    publicNetworkAccess: publicAccess
    networkAcls: {
      defaultAction: enablePrivateNetworking ? 'Deny' : 'Allow'
      bypass: 'None'
    }
  }
}

// The audit key signs audit checkpoints (docs/AUDIT.md, KEYSERVER_AUDIT_KEY);
// the Keyserver signs with it through the same Key Vault client as every
// signature, under the signing role it holds on the vault.
var auditKeyName = 'keyserver-audit'

resource auditKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = if (!useManagedHsm) {
  parent: keyVault
  name: auditKeyName
  properties: {
    kty: 'EC-HSM'
    curveName: 'P-256'
    keyOps: ['sign', 'verify']
  }
}

resource managedHsm 'Microsoft.KeyVault/managedHSMs@2023-07-01' existing = if (useManagedHsm) {
  name: managedHsmName
}

resource auditHsmKey 'Microsoft.KeyVault/managedHSMs/keys@2023-07-01' = if (useManagedHsm) {
  parent: managedHsm
  name: auditKeyName
  properties: {
    kty: 'EC-HSM'
    curveName: 'P-256'
    keyOps: ['sign', 'verify']
  }
}

var keyVaultUri = useManagedHsm ? 'https://${managedHsmName}.managedhsm.azure.net/' : keyVault!.properties.vaultUri

// Every request to the vault, each signature included, goes to Log Analytics
// (table AZKVAuditLogs).
resource keyVaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!useManagedHsm) {
  name: 'keyserver-audit'
  scope: keyVault
  properties: {
    workspaceId: logAnalytics.id
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

// Read public keys and sign: nothing else. Key Vault Crypto User would also
// allow encrypt, decrypt, wrap and unwrap. Role names are unique per tenant.
resource signerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (!useManagedHsm) {
  name: guid(resourceGroup().id, 'keyserver-signer')
  properties: {
    roleName: 'Keyserver Signer ${uniqueString(resourceGroup().id)}'
    description: 'Read the public part of Key Vault keys and sign with them.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read'
          'Microsoft.KeyVault/vaults/keys/sign/action'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// ---------------------------------------------------------------- private networking (optional)

var vnetName = '${namePrefix}-vnet-${suffix}'
var appSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, 'app')
var endpointSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, 'endpoints')
var storageTargets = [
  {
    name: 'blob'
    id: storage.id
    group: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'table'
    id: storage.id
    group: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
  {
    name: 'servicebus'
    id: serviceBus.id
    group: 'namespace'
    zone: 'privatelink.servicebus.windows.net'
  }
]
var vaultTargets = useManagedHsm ? [] : [
  {
    name: 'vault'
    id: resourceId('Microsoft.KeyVault/vaults', keyVaultName)
    group: 'vault'
    zone: 'privatelink.vaultcore.azure.net'
  }
]
var privateTargets = enablePrivateNetworking ? concat(storageTargets, vaultTargets) : []

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = if (enablePrivateNetworking) {
  name: vnetName
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.40.0.0/16'
      ]
    }
    subnets: [
      {
        // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
        name: 'app'
        properties: {
          addressPrefix: '10.40.0.0/24'
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: '10.40.1.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource privateZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for t in privateTargets: {
    name: t.zone
    location: 'global'
  }
]

resource privateZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (t, i) in privateTargets: {
    parent: privateZones[i]
    name: 'keyserver'
    location: 'global'
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [
  for t in privateTargets: {
    name: '${namePrefix}-pe-${t.name}-${suffix}'
    location: location
    dependsOn: [
      vnet
      keyVault
    ]
    properties: {
      subnet: {
        id: endpointSubnetId
      }
      privateLinkServiceConnections: [
        {
          name: t.name
          properties: {
            privateLinkServiceId: t.id
            groupIds: [
              t.group
            ]
          }
        }
      ]
    }
  }
]

resource privateZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [
  for (t, i) in privateTargets: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: t.name
          properties: {
            privateDnsZoneId: privateZones[i].id
          }
        }
      ]
    }
  }
]

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
// FUNCTIONS_EXTENSION_VERSION as app settings, and siteConfig.ftpsState,
// linuxFxVersion, alwaysOn and the like (infra_test.go lists them).
resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  dependsOn: [
    vnet
  ]
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: enablePrivateNetworking ? appSubnetId : null
    vnetRouteAllEnabled: enablePrivateNetworking
    siteConfig: {
      minTlsVersion: '1.2'
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
        // Read by the handler and the function.json files (docs/ARCHITECTURE.md).
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
          name: 'KEYSERVER_AUDIT_KEY'
          value: '${keyVaultUri}keys/${auditKeyName}'
        }
        // The publisher's namespace and the notify trigger's identity connection.
        {
          name: '${serviceBusConnection}__fullyQualifiedNamespace'
          value: '${serviceBus.name}.servicebus.windows.net'
        }
        {
          name: 'KEYSERVER_SERVICEBUS_TOPIC'
          value: eventsTopic.name
        }
        {
          name: 'KEYSERVER_SERVICEBUS_SUBSCRIPTION'
          value: notifySubscription.name
        }
        {
          name: 'KEYSERVER_PUBLIC_URL'
          value: keyserverUrl
        }
        {
          name: 'KEYSERVER_RETENTION_DAYS'
          value: string(retentionDays)
        }
        {
          name: 'GOMAXPROCS'
          value: string(instanceCores[string(instanceMemoryMB)])
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
        instanceMemoryMB: instanceMemoryMB
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

// The deployment package: Flex Consumption reads it with the app's identity.
resource deploymentBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, functionApp.id, roleStorageBlobDataOwner)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleStorageBlobDataOwner)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Host storage (AzureWebJobsStorage__accountName): the timer's schedule and
// lock blobs and the host keys, in the two containers the host uses. No queue
// role: the app has no blob or queue triggers, which are what need one.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (c, i) in hostContainerNames: {
    name: guid(hostContainers[i].id, functionApp.id, roleStorageBlobDataOwner)
    scope: hostContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleStorageBlobDataOwner)
      principalId: functionApp.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

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

// Sign (and read public keys) with the vault's keys; no key management, no decryption.
resource keyVaultSigner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useManagedHsm) {
  name: guid(resourceGroup().id, keyVaultName, functionApp.id, 'keyserver-signer')
  scope: keyVault
  properties: {
    roleDefinitionId: signerRole.id
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Publish events to this one topic only.
resource serviceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsTopic.id, functionApp.id, roleServiceBusDataSender)
  scope: eventsTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleServiceBusDataSender)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// The notify trigger receives from this one subscription only.
resource serviceBusReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(notifySubscription.id, functionApp.id, roleServiceBusDataReceiver)
  scope: notifySubscription
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleServiceBusDataReceiver)
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
output logAnalyticsWorkspaceId string = logAnalytics.id
output publicUrl string = keyserverUrl
