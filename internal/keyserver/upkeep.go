package keyserver

import (
	"context"
	"fmt"
)

// UpkeepReport says what one upkeep run did.
type UpkeepReport struct {
	Republished int
	Expired     int
	Reminded    int
	Deleted     int
}

func (r UpkeepReport) String() string {
	return fmt.Sprintf("republished %d, expired %d, reminded %d, deleted %d", r.Republished, r.Expired, r.Reminded, r.Deleted)
}

// Upkeep is the periodic work the upkeep function (a timer) runs: it
// republishes what could not be published.
func (s *Service) Upkeep(ctx context.Context) (UpkeepReport, error) {
	var r UpkeepReport
	var err error
	r.Republished, err = s.RedeliverNotifications(ctx)
	return r, err
}
