package webhooks

import (
	"context"
	"fmt"
)

// replayPageSize is how many events ReplayMatching reads at a time.
const replayPageSize = 100

// Summary is what ReplayMatching did.
type Summary struct {
	Matched  int
	DryRun   bool
	Outcomes map[string]int // replays by outcome; empty on a dry run
}

// ReplayMatching replays, one by one, every event matching f's outcome,
// type, since and until (Limit and Cursor are ignored), oldest first so
// that replays apply in delivery order. With dryRun it only counts them.
//
// each, if not nil, is called once per event: with the replay's Result and
// the event's own failure, if any; on a dry run with the stored Result and
// nil. An event that fails again counts as failed and the run goes on; a
// database error stops the run and is returned with the summary so far.
func (s *Service) ReplayMatching(ctx context.Context, f Filter, dryRun bool, each func(Result, error)) (Summary, error) {
	f.Limit, f.Cursor = 0, ""
	sum := Summary{DryRun: dryRun, Outcomes: map[string]int{}}
	if err := f.check(); err != nil {
		return sum, err
	}
	var after *position
	for {
		var rows []eventRow
		q := f.where(s.db.NewSelect().Model(&rows).Column("svix_id", "type", "clerk_user_id", "outcome", "first_received_at"))
		if after != nil {
			q = q.Where("(we.first_received_at, we.svix_id) > (?, ?)", after.receivedAt, after.svixID)
		}
		// Keyset paging stays correct while replays change the outcomes
		// that f may be filtering on.
		err := q.OrderExpr("we.first_received_at ASC, we.svix_id ASC").Limit(replayPageSize).Scan(ctx)
		if err != nil {
			return sum, fmt.Errorf("list webhook events to replay: %w", err)
		}
		for _, row := range rows {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			sum.Matched++
			if dryRun {
				if each != nil {
					each(Result{SvixID: row.SvixID, Type: row.Type, ClerkUserID: deref(row.ClerkUserID), Outcome: row.Outcome}, nil)
				}
				continue
			}
			p, err := s.replay(ctx, row.SvixID)
			if err != nil {
				return sum, err
			}
			sum.Outcomes[string(p.Outcome)]++
			if each != nil {
				each(p.result(row.SvixID), p.Failure)
			}
		}
		if len(rows) < replayPageSize {
			return sum, nil
		}
		last := rows[len(rows)-1]
		after = &position{receivedAt: toDBTime(last.FirstReceivedAt), svixID: last.SvixID}
	}
}
