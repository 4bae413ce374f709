package tracking

// GroupLoad and GroupWorkers let the tests form groups of ingests
// (dbtest.Group).
func (s *Service) GroupLoad() (waiting, busy int) { return s.group.Load() }

func (s *Service) GroupWorkers() int { return s.group.Workers() }
