package tablestore

import (
	"context"
	"errors"
	"regexp"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// submit runs an entity-group transaction on the operations table and
// returns the ETag each action left (empty for a delete).
func (s *Store) submit(ctx context.Context, actions []aztables.TransactionAction) ([]azcore.ETag, error) {
	return s.wire.batch(ctx, s.names[2], actions)
}

var failedIndexPattern = regexp.MustCompile(`"value"\s*:\s*"(\d+):`)

// failedAction returns the index of the action that failed a transaction
// and its status; index -1 when the answer does not say.
func failedAction(err error) (index, status int) {
	status, _ = statusOf(err)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return -1, status
	}
	if m := failedIndexPattern.FindSubmatch(payload(re.RawResponse)); m != nil {
		if i, err := strconv.Atoi(string(m[1])); err == nil {
			return i, status
		}
	}
	return -1, status
}
