package dynamo

import "github.com/cybsecops/configreport/internal/ident"

// Gathered is how many increments of id's counter wait for the ADD in
// flight (tests: to hold an ADD until others have arrived).
func Gathered(s *Store, id ident.RunID) int64 {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	if rc := s.counters.runs[id]; rc != nil && rc.open != nil {
		return rc.open.n
	}
	return 0
}
