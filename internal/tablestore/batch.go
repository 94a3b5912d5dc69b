package tablestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// The aztables client does not return the ETags of an entity-group
// transaction's entities, which the service sends in the answer's parts.
// answerPolicy keeps the answer of a call whose context asks for it, so that
// submit can read them.

type answerKey struct{}

type answer struct{ resp *http.Response }

type answerPolicy struct{}

func (answerPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if a, ok := req.Raw().Context().Value(answerKey{}).(*answer); ok && err == nil {
		a.resp = resp
	}
	return resp, err
}

// submit runs an entity-group transaction and returns the ETag each action
// left (empty for a delete), in the order of actions.
func (s *Store) submit(ctx context.Context, actions []aztables.TransactionAction) ([]azcore.ETag, error) {
	a := &answer{}
	if _, err := s.ops.SubmitTransaction(context.WithValue(ctx, answerKey{}, a), actions, nil); err != nil {
		return nil, err
	}
	if a.resp == nil {
		return nil, errors.New("the transaction's answer was not kept")
	}
	return partETags(payload(a.resp), len(actions)), nil
}

// partETags reads the ETag header of each part of a transaction's answer;
// an answer it cannot read gives no ETags, which callers treat as unknown.
func partETags(body []byte, n int) []azcore.ETag {
	etags := make([]azcore.ETag, 0, n)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "HTTP/1.1 "):
			etags = append(etags, "")
		case len(etags) > 0 && len(line) > 5 && strings.EqualFold(line[:5], "etag:"):
			etags[len(etags)-1] = azcore.ETag(strings.TrimSpace(line[5:]))
		}
	}
	if len(etags) != n {
		return make([]azcore.ETag, n)
	}
	return etags
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
