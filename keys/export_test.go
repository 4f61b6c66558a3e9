package keys

// SealUnboundCheck returns a master-key check value of the kind writ wrote
// before key rows were bound to the master key, to build such databases in
// tests.
func SealUnboundCheck(m *MasterKey) []byte {
	return m.seal([]byte(checkUnbound), []byte("meta"))
}
