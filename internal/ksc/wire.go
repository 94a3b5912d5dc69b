package ksc

import "time"

// The API's JSON as the ks CLI reads and writes it. Decoding ignores fields
// it does not know, so that a newer Keyserver does not break an older CLI.

// OperationRequest is the body of POST /api/operations.
type OperationRequest struct {
	ValidMS     int64        `json:"validms"`
	Description string       `json:"description"`
	Keys        []KeyRequest `json:"new-keyusagerestrictions"`
}

// KeyRequest asks for a number of uses of one key.
type KeyRequest struct {
	KeyID         string `json:"keyid"`
	MaxUsageCount int    `json:"maxusagecount"`
}

// Principal names an identity: its token issuer and subject.
type Principal struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// Approval is one approver's consent for one key.
type Approval struct {
	Approver Principal `json:"approver"`
	Name     string    `json:"name"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment"`
}

// Grant is what an operation allows for one key.
type Grant struct {
	KeyID             string     `json:"keyid"`
	MaxUsageCount     int        `json:"maxusagecount"`
	UsageCount        int        `json:"usagecount"`
	RequiredApprovals int        `json:"requiredapprovals"`
	Approvals         []Approval `json:"approvals"`
}

// Closure says who ended an operation, when and why.
type Closure struct {
	By     Principal `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// Operation statuses.
const (
	StatusPending   = "pending"
	StatusApproved  = "approved"
	StatusExpired   = "expired"
	StatusExhausted = "exhausted"
	StatusRejected  = "rejected"
	StatusCancelled = "cancelled"
)

// Operation is an operation as GET /api/operations/{id} answers it.
type Operation struct {
	ID          string    `json:"id"`
	Requester   Principal `json:"requester"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Keys        []Grant   `json:"keys"`
	Rejected    *Closure  `json:"rejected"`
	Cancelled   *Closure  `json:"cancelled"`
	Approved    bool      `json:"approved"`
	Status      string    `json:"status"`
}

// Key is a key as GET /api/keys/{keyid} answers it.
type Key struct {
	KeyID             string `json:"keyid"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Algorithm         string `json:"algorithm"`
	RequiredApprovals int    `json:"requiredapprovals"`
}

// SignOrder is the body of POST /api/signorders.
type SignOrder struct {
	OperationID     string `json:"operationid"`
	KeyID           string `json:"keyid"`
	InputData       string `json:"inputdata"`
	InputFormat     string `json:"inputformat"`
	InputPadding    string `json:"inputpadding"`
	SignatureFormat string `json:"signatureformat"`
	Description     string `json:"description,omitempty"`
	HashAlgorithm   string `json:"hashalgorithm,omitempty"`
}

// SignResult is the answer to a sign order.
type SignResult struct {
	KeyID           string `json:"keyid"`
	InputData       string `json:"inputdata"`
	SignatureFormat string `json:"signatureformat"`
	Result          string `json:"result"`
}
