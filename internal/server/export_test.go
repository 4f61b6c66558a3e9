package server

// HoldUsageSlot takes the slot of usage reports, as a report being
// recorded does, until the function it returns is called.
func (s *Server) HoldUsageSlot() (release func()) {
	s.usageSlot <- struct{}{}
	return func() { <-s.usageSlot }
}
