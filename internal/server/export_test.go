package server

import "time"

// HoldUsageSlot takes the slot of usage reports, as a report being
// recorded does, until the function it returns is called.
func (s *Server) HoldUsageSlot() (release func()) {
	s.usageSlot <- struct{}{}
	return func() { <-s.usageSlot }
}

// SetEdgeBuildWait sets how long a request for the manifest waits for a
// snapshot build, in place of EdgeBuildWait.
func (s *Server) SetEdgeBuildWait(d time.Duration) {
	s.edge.mu.Lock()
	defer s.edge.mu.Unlock()
	s.edge.wait = d
}

// DropEdgeSnapshot waits for the snapshot build under way, if any (the one
// the server starts with), and drops the snapshots built, so that the next
// request for the manifest builds one of the list as it is then.
func (s *Server) DropEdgeSnapshot() {
	for {
		s.edge.mu.Lock()
		building := s.edge.building
		if building == nil {
			s.edge.cur, s.edge.prev, s.edge.deltas, s.edge.manifest = nil, nil, nil, nil
			s.edge.mu.Unlock()
			return
		}
		s.edge.mu.Unlock()
		<-building
	}
}
