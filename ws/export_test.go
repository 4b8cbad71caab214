package ws

// SetReadHook makes f see every message a server reads before it is handled, until the
// returned function removes it. Change it only while no server is reading.
func SetReadHook(f func(msg []byte)) (restore func()) {
	readHook = f
	return func() { readHook = nil }
}
