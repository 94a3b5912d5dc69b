package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// A transaction must not be applied twice. Trying one again after its
// answer was lost (a connection dropped, a try timed out, a server error
// after the commit) would otherwise fail on its own writes: a completion's
// reservation row already deleted ("no longer reserved"), the op row's ETag
// already moved (reservations made twice, the first ones leaked). So once a
// try's outcome is unknown, each later failure first asks whether the
// transaction committed after all, by reading back the first row it adds.

// submitOnce posts a transaction and returns the ETag each action left; for
// a transaction found committed after its answer was lost, empty ETags (the
// caller reads what it needs). A transaction that adds no row is tried again
// blindly: it writes under ETags or deletes rows, so it fails rather than
// applies twice.
func (w *wire) submitOnce(ctx context.Context, table string, actions []aztables.TransactionAction, body []byte, contentType string) ([]azcore.ETag, error) {
	added := firstAdded(actions)
	unknown := false
	for try := 0; ; try++ {
		a, status, err := w.try(ctx, http.MethodPost, w.service+"/$batch", body, contentType)
		if err == nil && status == http.StatusAccepted {
			etags, aerr := answerOf(a, len(actions))
			if aerr == nil {
				return etags, nil
			}
			err = aerr
		}
		if unknown && added != nil {
			if done, perr := w.committed(ctx, table, added); perr == nil && done {
				return make([]azcore.ETag, len(actions)), nil
			}
		}
		transport := status == 0 && err != nil
		if try < int(w.retry.MaxRetries) && (transport || err == nil && retriable(status, nil)) && ctx.Err() == nil {
			unknown = true
			if serr := sleep(ctx, min(w.retry.RetryDelay<<try, w.retry.MaxRetryDelay)); serr == nil {
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return nil, runtime.NewResponseError(a.resp)
	}
}

// answerOf reads a transaction's answer: the ETag each action left, or the
// service's answer as the error when an action failed it.
func answerOf(a answer, actions int) ([]azcore.ETag, error) {
	statuses, etags := answerParts(a.payload)
	for _, st := range statuses {
		if st >= 400 {
			return nil, runtime.NewResponseError(a.resp)
		}
	}
	if len(statuses) != actions {
		return nil, fmt.Errorf("the transaction's answer has %d parts for %d actions", len(statuses), actions)
	}
	return etags, nil
}

// firstAdded returns the entity of the first row actions add, or nil.
func firstAdded(actions []aztables.TransactionAction) []byte {
	for _, a := range actions {
		if a.ActionType == aztables.TransactionTypeAdd {
			return a.Entity
		}
	}
	return nil
}

// committed reports whether the row added is there as it was sent: then the
// transaction that added it committed, since a transaction commits whole or
// not at all. Rows two transactions could both add are told apart by their
// content: a reservation row carries a nonce, a chain record its
// predecessor's hash, time and content, an event its random id.
func (w *wire) committed(ctx context.Context, table string, added []byte) (bool, error) {
	keys, err := entityKeys(added)
	if err != nil {
		return false, err
	}
	got, err := w.get(ctx, table, keys.PartitionKey, keys.RowKey)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sameEntity(added, got), nil
}

// sameEntity reports whether entity got, as the service returns it, holds
// every property of sent with the same value.
func sameEntity(sent, got []byte) bool {
	var a, b map[string]any
	if json.Unmarshal(sent, &a) != nil || json.Unmarshal(got, &b) != nil {
		return false
	}
	for k, v := range a {
		if strings.Contains(k, "@odata.") || k == "PartitionKey" || k == "RowKey" {
			continue
		}
		w, ok := b[k]
		if !ok {
			return false
		}
		if a[k+"@odata.type"] == "Edm.DateTime" { // the service may write fractions its own way
			t1, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(v))
			t2, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(w))
			if err1 != nil || err2 != nil || !t1.Equal(t2) {
				return false
			}
		} else if !reflect.DeepEqual(v, w) {
			return false
		}
	}
	return true
}
