package webhooks

import "github.com/uptrace/bun/dialect"

// GroupLoad and GroupWorkers let the tests form groups of deliveries
// (dbtest.Group).
func (s *Service) GroupLoad() (waiting, busy int) { return s.group.Load() }

func (s *Service) GroupWorkers() int {
	if s.db.Dialect().Name() == dialect.PG {
		return groupWorkers
	}
	return 1
}
