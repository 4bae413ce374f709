package users

// GroupLoad and GroupWorkers let the tests form groups of upserts
// (dbtest.Group).
func (s *Service) GroupLoad() (waiting, busy int) { return s.group.Load() }

func (s *Service) GroupWorkers() int { return s.group.Workers() }
